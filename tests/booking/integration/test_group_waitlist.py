"""A full group session's waitlist and its capacity, through the HTTP API on real PostgreSQL
and NATS: a freed seat is offered to the group's waiting clients one at a time, held for the
offer, and the group never overfills."""

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nats
import pytest

from counseling_shared.db import connect
from tests.booking.integration.support import Booking, eventually, site_events

pytestmark = pytest.mark.integration

CANCEL = {"reason": "sick", "cancelled_by": "client"}


async def _practice(booking: Booking) -> dict[str, Any]:
    the_site = await booking.site()
    return {
        "site": the_site,
        "counselor": await booking.counselor(the_site["id"]),
        "room": await booking.room(the_site["id"]),
    }


async def _full_group(
    booking: Booking, practice: dict[str, Any], hours: float, capacity: int = 2
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A group at `hours` from now with every seat taken; its seats' appointments."""
    body = {
        "counselor_id": practice["counselor"]["id"],
        "room_id": practice["room"]["id"],
        "start": booking.at(hours=hours).isoformat(),
        "duration_minutes": 90,
        "modality": "in_person",
        "capacity": capacity,
    }
    group = await booking.created("/group-sessions", body)
    seats = []
    for _ in range(capacity):
        client = await booking.client(practice["site"]["id"])
        seats.append(await booking.created(f"/group-sessions/{group['id']}/seats", _who(client)))
    return group, seats


def _who(client: dict[str, Any]) -> dict[str, str]:
    return {"client_id": client["id"]}


async def _wait(booking: Booking, group: dict[str, Any], client: dict[str, Any]) -> Any:
    return await booking.post(f"/group-sessions/{group['id']}/waitlist", _who(client))


async def _waiting(
    booking: Booking, group: dict[str, Any], site_id: str, **client_fields: Any
) -> dict[str, Any]:
    """A new client of the site on the group's waitlist (joined a second after the last)."""
    booking.clock.advance(timedelta(seconds=1))  # entries are served in order of joining
    client = await booking.client(site_id, **client_fields)
    joined = await _wait(booking, group, client)
    assert joined.status_code == 201, joined.text
    entry: dict[str, Any] = joined.json()
    return entry


async def _offers(booking: Booking, entry: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await booking.get(f"/waitlist/{entry['id']}")).json()["offers"]
    return found


async def _group_now(booking: Booking, group: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (await booking.get(f"/group-sessions/{group['id']}")).json()
    return found


async def _published(
    booking: Booking, site_id: str, event_type: str, expected: int = 1
) -> list[dict[str, Any]]:
    """Every `event_type` the BOOKING stream holds for the site, in order, once the outbox
    relay has brought at least `expected` of them (it publishes after the commit)."""

    async def found() -> list[dict[str, Any]]:
        held = await _stream_count(booking, site_id)
        events = await site_events(booking.nats_url, site_id, held) if held else []
        matching = [e["data"] for _, e, _ in events if e["type"] == event_type]
        return matching if len(matching) >= expected else []

    matching: list[dict[str, Any]] = await eventually(found)
    return matching


async def _stream_count(booking: Booking, site_id: str) -> int:
    nc = await nats.connect(booking.nats_url)
    try:
        info = await nc.jetstream().stream_info("BOOKING", subjects_filter=f"booking.{site_id}.>")
    finally:
        await nc.close()
    return sum((info.state.subjects or {}).values())


async def _offer_urls(booking: Booking, site_id: str, expected: int = 1) -> list[dict[str, Any]]:
    return await _published(booking, site_id, "WaitlistOfferMade", expected)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _booked_seats(booking: Booking, group: dict[str, Any]) -> int:
    conn = await connect(booking.database_url)
    try:
        booked: int = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE group_session_id = $1 AND status = 'booked'",
            group["id"],
        )
    finally:
        await conn.close()
    return booked


async def test_only_a_full_group_is_waited_for_and_each_client_waits_once(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=30)

    entry = await _waiting(booking, group, site_id)

    assert entry["group_session_id"] == group["id"]
    assert entry["site_id"] == site_id
    assert entry["status"] == "waiting"
    listed = (await booking.get("/waitlist", site_id=site_id)).json()
    assert [e["id"] for e in listed] == [entry["id"]]
    again = await booking.post(
        f"/group-sessions/{group['id']}/waitlist", {"client_id": entry["client_id"]}
    )
    assert again.status_code == 409, again.text
    seated = await booking.post(
        f"/group-sessions/{group['id']}/waitlist", {"client_id": seats[0]["client_id"]}
    )
    assert seated.status_code == 409, seated.text
    elsewhere = await booking.client((await booking.site())["id"])
    assert (await _wait(booking, group, elsewhere)).status_code == 422
    unknown = await booking.post(
        "/group-sessions/6a0d7f8e-5c1b-4f3a-9d2e-1b2c3d4e5f60/waitlist", _who(elsewhere)
    )
    assert unknown.status_code == 404
    # A group with a free seat is not waited for: the client takes the seat.
    roomy = await booking.created(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": booking.at(hours=60).isoformat(),
            "modality": "online",
            "capacity": 3,
        },
    )
    free = await _wait(booking, roomy, await booking.client(site_id))
    assert free.status_code == 409, free.text
    assert free.json()["type"].endswith("/seats_free")


async def test_a_freed_seat_is_held_for_the_first_waiting_client_then_offered_to_the_next(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=40)
    first = await _waiting(booking, group, site_id)
    second = await _waiting(booking, group, site_id)

    cancelled = await booking.post(f"/appointments/{seats[0]['id']}/cancel", CANCEL)
    assert cancelled.status_code == 200, cancelled.text

    assert [o["status"] for o in await _offers(booking, first)] == ["open"]
    assert await _offers(booking, second) == []
    held = await _group_now(booking, group)
    assert (held["seats_left"], held["seats_held"], len(held["seats"])) == (0, 1, 1)
    # The seat is held for the offer: nobody else takes it meanwhile.
    taken = await booking.post(
        f"/group-sessions/{group['id']}/seats", _who(await booking.client(site_id))
    )
    assert taken.status_code == 409, taken.text
    assert taken.json()["type"].endswith("/group_full")

    booking.clock.advance(timedelta(minutes=15, seconds=1))

    async def second_offered() -> list[dict[str, Any]]:
        return await _offers(booking, second)

    assert [o["status"] for o in await eventually(second_offered)] == ["open"]
    assert [o["status"] for o in await _offers(booking, first)] == ["expired"]
    offers = await _offer_urls(booking, site_id, expected=2)
    assert [o["client_id"] for o in offers] == [first["client_id"], second["client_id"]]
    assert {o["group_session_id"] for o in offers} == {group["id"]}
    assert offers[0]["appointment_start"] == group["start"]

    too_late = await booking.http.post(_path(offers[0]["accept_url"]))
    assert too_late.status_code == 410
    accepted = await booking.http.post(_path(offers[1]["accept_url"]))
    assert accepted.status_code == 201, accepted.text
    seat = accepted.json()
    assert (seat["client_id"], seat["group_session_id"]) == (second["client_id"], group["id"])
    assert seat["start"] == group["start"]
    after = await _group_now(booking, group)
    assert (after["seats_left"], after["seats_held"], len(after["seats"])) == (0, 0, 2)
    assert (await booking.get(f"/waitlist/{second['id']}")).json()["status"] == "booked"
    assert await _booked_seats(booking, group) == 2


async def test_the_offer_page_says_it_is_a_seat_in_a_group_session(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=50)
    await _waiting(booking, group, site_id, locale="en-GB")
    await booking.post(f"/appointments/{seats[1]['id']}/cancel", CANCEL)
    [offer] = await _offer_urls(booking, site_id)

    page = await booking.http.get(_path(offer["accept_url"]))

    assert page.status_code == 200, page.text
    assert "Group session (several clients with one counselor)" in page.text
    assert "A seat has opened up in the group session" in page.text
    assert "<button" in page.text
    token = parse_qs(urlsplit(offer["accept_url"]).query)["token"][0]
    booked = await booking.http.post(_path(offer["accept_url"]), data={"token": token})
    assert booked.status_code == 201, booked.text
    assert await _booked_seats(booking, group) == 2


async def test_raising_the_capacity_offers_the_new_seats_in_joining_order(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, _ = await _full_group(booking, practice, hours=70, capacity=3)
    waiting = [await _waiting(booking, group, site_id) for _ in range(3)]

    raised = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 5})

    assert raised.status_code == 200, raised.text
    assert (raised.json()["capacity"], raised.json()["seats_held"]) == (5, 2)
    assert raised.json()["seats_left"] == 0
    assert [len(await _offers(booking, e)) for e in waiting] == [1, 1, 0]
    changed = await _published(booking, site_id, "GroupSessionCapacityChanged")
    assert [(c["capacity"], c["previous_capacity"]) for c in changed] == [(5, 3)]
    assert "reason" not in changed[0]
    # Not below the seats taken: three seated, two held.
    lowered = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 4})
    assert lowered.status_code == 409, lowered.text
    problem = lowered.json()
    assert problem["type"].endswith("/capacity_below_seated")
    assert (problem["seated"], problem["held"]) == (3, 2)
    assert "3 clients are seated" in problem["detail"]
    out_of_range = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 16})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["errors"][0]["field"].endswith("capacity")
    same = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 5})
    assert same.status_code == 200
    assert (await _group_now(booking, group))["capacity"] == 5


async def test_a_group_with_free_seats_can_be_lowered_to_its_seated_clients(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    group, _ = await _full_group(booking, practice, hours=75, capacity=2)
    await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 6})

    lowered = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 2})

    assert lowered.status_code == 200, lowered.text
    assert (lowered.json()["capacity"], lowered.json()["seats_left"]) == (2, 0)
    cancelled = await booking.post(
        f"/group-sessions/{group['id']}/cancel", {"reason": "x", "cancelled_by": "center"}
    )
    assert cancelled.status_code == 200
    late = await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 3})
    assert late.status_code == 409


async def test_concurrent_accepts_seat_requests_and_capacity_changes_never_overfill(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, _ = await _full_group(booking, practice, hours=80, capacity=2)
    for _ in range(2):
        await _waiting(booking, group, site_id)
    await booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 4})
    offers = await _offer_urls(booking, site_id, expected=2)
    assert len(offers) == 2
    strangers = [await booking.client(site_id) for _ in range(6)]

    answers = await asyncio.gather(
        *(booking.http.post(_path(o["accept_url"])) for o in offers),
        *(booking.post(f"/group-sessions/{group['id']}/seats", _who(c)) for c in strangers),
        booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 3}),
        booking.post(f"/group-sessions/{group['id']}/capacity", {"capacity": 2}),
    )

    accepts, seat_requests, lowers = answers[:2], answers[2:8], answers[8:]
    assert [a.status_code for a in accepts] == [201, 201]
    assert Counter(a.status_code for a in seat_requests) == {409: 6}
    assert Counter(a.status_code for a in lowers) == {409: 2}
    assert await _booked_seats(booking, group) == 4
    found = await _group_now(booking, group)
    assert (found["capacity"], len(found["seats"]), found["seats_left"]) == (4, 4, 0)


async def test_a_moved_group_offers_its_seat_again_at_the_new_time_a_cancelled_one_withdraws_it(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, seats = await _full_group(booking, practice, hours=90)
    entry = await _waiting(booking, group, site_id)
    await booking.post(f"/appointments/{seats[0]['id']}/cancel", CANCEL)
    new_start = booking.at(hours=92)

    moved = await booking.post(
        f"/group-sessions/{group['id']}/reschedule", {"start": new_start.isoformat()}
    )

    assert moved.status_code == 200, moved.text
    offers = await _offers(booking, entry)
    assert [o["status"] for o in offers] == ["expired", "open"]
    assert datetime.fromisoformat(offers[1]["start"]) == new_start
    assert moved.json()["seats_held"] == 1

    cancelled = await booking.post(
        f"/group-sessions/{group['id']}/cancel", {"reason": "ill", "cancelled_by": "center"}
    )

    assert cancelled.status_code == 200, cancelled.text
    assert [o["status"] for o in await _offers(booking, entry)] == ["expired", "expired"]
    assert cancelled.json()["seats_held"] == 0
    made = await _offer_urls(booking, site_id, expected=2)
    assert (await booking.http.post(_path(made[1]["accept_url"]))).status_code == 410
    conn = await connect(booking.database_url)
    try:
        live = await conn.fetchval(
            "SELECT count(*) FROM holds WHERE group_session_id = $1 AND status = 'held'",
            group["id"],
        )
        claimed = await conn.fetchval(
            "SELECT count(*) FROM slot_claims WHERE group_session_id = $1 AND owner_kind = 'hold'",
            group["id"],
        )
    finally:
        await conn.close()
    assert (live, claimed) == (0, 0)


async def test_an_ordinary_freed_slot_is_never_offered_to_a_groups_waitlist(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group, _ = await _full_group(booking, practice, hours=100)
    group_entry = await _waiting(booking, group, site_id)
    other = await booking.counselor(site_id)
    one_to_one = await booking.appointment(
        other, await booking.client(site_id), booking.at(hours=101)
    )

    await booking.post(f"/appointments/{one_to_one['id']}/cancel", CANCEL)

    assert await _offers(booking, group_entry) == []
