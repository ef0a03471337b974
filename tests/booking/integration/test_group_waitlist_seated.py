"""A client who takes a seat in a group directly (`POST /group-sessions/{id}/seats`) stops
waiting for it: their entry closes in the same transaction (`closed`, reason `seated`) and an
open offer it holds is released, as a withdrawal does. A seat taken by accepting the entry's
own offer leaves the entry `booked`."""

from typing import Any

import pytest

from tests.booking.integration.support import Booking
from tests.booking.integration.test_group_waitlist import (
    _full_group,
    _offers,
    _practice,
    _published,
    _waiting,
)
from tests.booking.integration.test_waitlist import _accept_path

pytestmark = pytest.mark.integration


async def _entry(booking: Booking, entry: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (await booking.get(f"/waitlist/{entry['id']}")).json()
    return found


async def _cancel(booking: Booking, seat: dict[str, Any]) -> None:
    cancelled = await booking.post(
        f"/appointments/{seat['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200, cancelled.text


async def _seat(booking: Booking, group: dict[str, Any], entry: dict[str, Any]) -> None:
    seated = await booking.post(
        f"/group-sessions/{group['id']}/seats", {"client_id": entry["client_id"]}
    )
    assert seated.status_code == 201, seated.text


async def test_a_waiting_client_seated_directly_leaves_the_waitlist(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    waiting = await _waiting(booking, group, site_id)
    await _cancel(booking, seats[0])
    [made] = await _published(booking, site_id, "WaitlistOfferMade")
    declined = await booking.http.post(
        _accept_path(made["accept_url"]).replace("/accept?", "/decline?")
    )
    assert declined.status_code == 200, declined.text
    assert (await _entry(booking, waiting))["status"] == "waiting"  # a decline keeps waiting

    await _seat(booking, group, waiting)

    entry = await _entry(booking, waiting)
    assert (entry["status"], entry["reason"]) == ("closed", "seated")
    assert entry["left_at"] is not None
    assert [o["status"] for o in entry["offers"]] == ["declined"]
    late = await booking.post(f"/waitlist/{waiting['id']}/withdraw")
    assert late.status_code == 409


async def test_a_seat_taken_directly_releases_the_entrys_open_offer(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    offered = await _waiting(booking, group, site_id)
    other = await _waiting(booking, group, site_id)
    await _cancel(booking, seats[0])
    await _cancel(booking, seats[1])
    made = await _published(booking, site_id, "WaitlistOfferMade", expected=2)
    [to_offered] = [m for m in made if m["client_id"] == offered["client_id"]]
    [to_other] = [m for m in made if m["client_id"] == other["client_id"]]
    # The other client declines: one seat free, one held for the offered client's offer.
    declined = await booking.http.post(
        _accept_path(to_other["accept_url"]).replace("/accept?", "/decline?")
    )
    assert declined.status_code == 200, declined.text

    await _seat(booking, group, offered)

    entry = await _entry(booking, offered)
    assert (entry["status"], entry["reason"]) == ("closed", "seated")
    assert [o["status"] for o in entry["offers"]] == ["withdrawn"]
    # The seat the offer held is free again, not held until the offer would have run out.
    now = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert (len(now["seats"]), now["seats_held"], now["seats_left"]) == (1, 0, 1)
    gone = await booking.http.post(_accept_path(to_offered["accept_url"]))
    assert gone.status_code == 410
    assert (await _entry(booking, other))["status"] == "waiting"


async def test_a_seat_from_the_entrys_own_offer_leaves_it_booked(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    waiting = await _waiting(booking, group, site_id)
    await _cancel(booking, seats[0])
    [made] = await _published(booking, site_id, "WaitlistOfferMade")

    accepted = await booking.http.post(_accept_path(made["accept_url"]))

    assert accepted.status_code == 201, accepted.text
    entry = await _entry(booking, waiting)
    assert (entry["status"], entry["reason"]) == ("booked", None)
    assert [o["status"] for o in await _offers(booking, waiting)] == ["accepted"]


async def test_a_client_holding_an_offer_may_take_a_seat_directly_in_a_full_group(
    booking: Booking,
) -> None:
    """The seat held for their offer is theirs: their own hold is not an overlap, and the
    group (every other seat taken) is not full to them."""
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    offered = await _waiting(booking, group, site_id)
    await _cancel(booking, seats[0])
    [made] = await _published(booking, site_id, "WaitlistOfferMade")
    later = await _waiting(booking, group, site_id)  # full again: the seat is held

    await _seat(booking, group, offered)

    entry = await _entry(booking, offered)
    assert (entry["status"], entry["reason"]) == ("closed", "seated")
    assert [o["status"] for o in entry["offers"]] == ["withdrawn"]
    now = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert (len(now["seats"]), now["seats_held"], now["seats_left"]) == (2, 0, 0)
    assert await _offers(booking, later) == []
    assert (await booking.http.post(_accept_path(made["accept_url"]))).status_code == 410
