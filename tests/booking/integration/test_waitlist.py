"""The waitlist: a freed slot is offered to matching entries one at a time, in order of
joining; each offer holds the slot; accepting books it, expiry offers it to the next."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.booking.integration.support import Booking, eventually, site_events

pytestmark = pytest.mark.integration


async def _entry(booking: Booking, entry_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await booking.get(f"/waitlist/{entry_id}")).json()
    return answer


def _accept_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_cancelled_slot_goes_to_the_first_matching_entry_then_after_expiry_to_the_second(
    booking: Booking,
) -> None:
    site = await booking.site()
    site_id = site["id"]
    counselor = await booking.counselor(site_id)
    other_counselor = await booking.counselor(site_id)
    booked_client = await booking.client(site_id)
    start = booking.at(hours=30)
    taken = await booking.appointment(counselor, booked_client, start)
    wrong_counselor = await booking.created(
        "/waitlist",
        {
            "client_id": (await booking.client(site_id))["id"],
            "site_id": site_id,
            "counselor_id": other_counselor["id"],
        },
    )
    booking.clock.advance(timedelta(seconds=1))  # entries are served in order of joining
    first = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site_id))["id"], "site_id": site_id}
    )
    booking.clock.advance(timedelta(seconds=1))
    second = await booking.created(
        "/waitlist",
        {
            "client_id": (await booking.client(site_id))["id"],
            "site_id": site_id,
            "modality": "online",
        },
    )

    cancelled = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200

    offered = (await _entry(booking, first["id"]))["offers"]
    assert [o["status"] for o in offered] == ["open"]
    assert (await _entry(booking, second["id"]))["offers"] == []
    assert (await _entry(booking, wrong_counselor["id"]))["offers"] == []
    # The offer holds the slot: nobody else can book it meanwhile.
    blocked = await booking.post(
        "/appointments",
        {
            "counselor_id": counselor["id"],
            "client_id": booked_client["id"],
            "start": start.isoformat(),
            "modality": "online",
        },
    )
    assert blocked.status_code == 409

    booking.clock.advance(timedelta(minutes=15, seconds=1))

    async def second_offered() -> list[dict[str, Any]]:
        offers: list[dict[str, Any]] = (await _entry(booking, second["id"]))["offers"]
        return offers

    assert [o["status"] for o in await eventually(second_offered)] == ["open"]
    assert [o["status"] for o in (await _entry(booking, first["id"]))["offers"]] == ["expired"]

    events = await site_events(booking.nats_url, site_id, 14)
    offers = [e["data"] for _, e, _ in events if e["type"] == "WaitlistOfferMade"]
    assert [o["client_id"] for o in offers] == [first["client_id"], second["client_id"]]
    assert all(o["appointment_start"] == offers[0]["appointment_start"] for o in offers)
    assert set(offers[0]) >= {"offer_id", "site_id", "accept_url", "expires_at"}

    too_late = await booking.http.post(_accept_path(offers[0]["accept_url"]))
    assert too_late.status_code == 410
    accepted = await booking.http.post(_accept_path(offers[1]["accept_url"]))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["client_id"] == second["client_id"]
    assert accepted.json()["start"] == taken["start"]
    again = await booking.http.post(_accept_path(offers[1]["accept_url"]))
    assert again.status_code == 409
    assert again.json()["appointment_id"] == accepted.json()["id"]
    assert (await _entry(booking, second["id"]))["status"] == "booked"


async def test_an_altered_accept_link_is_refused(booking: Booking) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=40)
    )
    entry = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "counselor"}
    )
    offer = (await _entry(booking, entry["id"]))["offers"][0]

    forged = await booking.http.post(f"/waitlist/offers/{offer['id']}/accept?token=x{offer['id']}")

    assert forged.status_code == 403
    assert (await _entry(booking, entry["id"]))["offers"][0]["status"] == "open"
