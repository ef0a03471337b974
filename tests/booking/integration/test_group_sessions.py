"""Group sessions through the HTTP API on real PostgreSQL and NATS: one counselor and room for
several clients, each seat an appointment of its own, never overfilled."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from counseling_shared.db import connect
from tests.booking.integration.support import Booking, site_events

pytestmark = pytest.mark.integration

CANCEL = {"reason": "Counselor ill", "cancelled_by": "center"}


async def _practice(booking: Booking, **site: Any) -> dict[str, Any]:
    the_site = await booking.site(**site)
    return {
        "site": the_site,
        "counselor": await booking.counselor(the_site["id"]),
        "room": await booking.room(the_site["id"]),
    }


async def _group(
    booking: Booking, practice: dict[str, Any], start: datetime, capacity: int = 3, **fields: Any
) -> dict[str, Any]:
    body = {
        "counselor_id": practice["counselor"]["id"],
        "room_id": practice["room"]["id"],
        "start": start.isoformat(),
        "duration_minutes": 90,
        "modality": "in_person",
        "capacity": capacity,
    }
    return await booking.created("/group-sessions", body | fields)


async def _seat(booking: Booking, group: dict[str, Any], client: dict[str, Any]) -> Any:
    return await booking.post(f"/group-sessions/{group['id']}/seats", {"client_id": client["id"]})


async def test_a_group_takes_the_counselors_and_rooms_time_like_an_appointment(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    start = booking.at(hours=24)
    group = await _group(booking, practice, start, capacity=12)

    assert group["status"] == "booked"
    assert group["capacity"] == 12
    assert group["seats"] == []
    assert group["seats_left"] == 12
    assert datetime.fromisoformat(group["end"]) == start + timedelta(minutes=90)
    client = await booking.client(practice["site"]["id"])
    # A one-to-one appointment of the counselor inside the group's time is refused, naming it.
    over = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["counselor"]["id"],
            "client_id": client["id"],
            "start": (start + timedelta(minutes=30)).isoformat(),
            "modality": "online",
        },
    )
    assert over.status_code == 409, over.text
    assert over.json()["conflicting_group_session_id"] == group["id"]
    assert over.json()["conflicting_resource"] == "counselor"
    # So is another counselor's session in the group's room.
    other = await booking.counselor(practice["site"]["id"])
    in_room = await booking.post(
        "/appointments",
        {
            "counselor_id": other["id"],
            "client_id": client["id"],
            "start": start.isoformat(),
            "modality": "in_person",
            "room_id": practice["room"]["id"],
        },
    )
    assert in_room.status_code == 409, in_room.text
    assert in_room.json()["conflicting_group_session_id"] == group["id"]
    assert in_room.json()["conflicting_resource"] == "room"
    # And a group over a booked appointment is refused naming the appointment.
    booked = await booking.appointment(practice["counselor"], client, booking.at(hours=30))
    clash = await booking.post(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": booking.at(hours=29, minutes=30).isoformat(),
            "modality": "online",
            "capacity": 4,
        },
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["conflicting_appointment_id"] == booked["id"]


async def test_bad_group_fields_are_named(booking: Booking) -> None:
    practice = await _practice(booking)
    answer = await booking.post(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": booking.at(hours=-2).isoformat(),
            "modality": "in_person",
            "capacity": 16,
        },
    )
    assert answer.status_code == 422, answer.text
    named = {e["field"] for e in answer.json()["errors"]}
    assert "capacity" in {n.split(".")[-1] for n in named}
    answer = await booking.post(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": booking.at(hours=-2).isoformat(),
            "modality": "in_person",
            "capacity": 5,
        },
    )
    assert answer.status_code == 422, answer.text
    assert {e["field"] for e in answer.json()["errors"]} == {"room_id", "start"}


async def test_seats_are_appointments_until_the_group_is_full(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    start = booking.at(hours=48)
    group = await _group(booking, practice, start, capacity=2)
    first, second, third = [await booking.client(site_id) for _ in range(3)]

    seated = await _seat(booking, group, first)

    assert seated.status_code == 201, seated.text
    seat = seated.json()
    assert seat["group_session_id"] == group["id"]
    assert seat["client_id"] == first["id"]
    assert seat["counselor_id"] == practice["counselor"]["id"]
    assert seat["room_id"] == practice["room"]["id"]
    assert seat["start"] == group["start"]
    assert seat["end"] == group["end"]
    again = await _seat(booking, group, first)
    assert again.status_code == 409, again.text
    assert "already has a seat" in again.json()["detail"]
    assert (await _seat(booking, group, second)).status_code == 201
    full = await _seat(booking, group, third)
    assert full.status_code == 409, full.text
    assert full.json()["type"].endswith("/group_full")
    found = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert {s["client_id"] for s in found["seats"]} == {first["id"], second["id"]}
    assert found["seats_left"] == 0
    # A client of another site is not seated.
    elsewhere = await booking.client((await booking.site())["id"])
    foreign = await booking.post(
        f"/group-sessions/{group['id']}/seats", {"client_id": elsewhere["id"]}
    )
    assert foreign.status_code == 422, foreign.text
    assert [e["field"] for e in foreign.json()["errors"]] == ["client_id"]
    assert (
        await booking.post(
            "/group-sessions/00000000-0000-4000-8000-000000000000/seats", {"client_id": first["id"]}
        )
    ).status_code == 404


async def test_more_concurrent_seat_requests_than_seats_never_overfill(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=72), capacity=3)
    clients = [await booking.client(site_id) for _ in range(12)]

    answers = await asyncio.gather(*(_seat(booking, group, c) for c in clients))

    assert Counter(a.status_code for a in answers) == {201: 3, 409: 9}
    assert all(a.json()["type"].endswith("/group_full") for a in answers if a.status_code == 409)
    conn = await connect(booking.database_url)
    try:
        booked = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE group_session_id = $1 AND status = 'booked'",
            group["id"],
        )
    finally:
        await conn.close()
    assert booked == 3
    found = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert len(found["seats"]) == 3
    assert found["seats_left"] == 0


async def test_cancelling_a_seat_frees_it_and_a_seat_cannot_move_alone(booking: Booking) -> None:
    practice = await _practice(booking, late_cancellation_window="PT24H")
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=10), capacity=2)
    first, second, third = [await booking.client(site_id) for _ in range(3)]
    seat = (await _seat(booking, group, first)).json()
    assert (await _seat(booking, group, second)).status_code == 201
    assert (await _seat(booking, group, third)).status_code == 409

    alone = await booking.post(
        f"/appointments/{seat['id']}/reschedule", {"start": booking.at(hours=20).isoformat()}
    )
    assert alone.status_code == 409, alone.text
    assert "move the group" in alone.json()["detail"]
    cancelled = await booking.post(
        f"/appointments/{seat['id']}/cancel", {"reason": "sick", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["late"] is True  # inside the site's 24 hours, as for any session

    assert (await _seat(booking, group, third)).status_code == 201
    found = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert {s["client_id"] for s in found["seats"]} == {second["id"], third["id"]}
    # Full again: the client who cancelled cannot come back until a seat is free.
    assert (await _seat(booking, group, first)).status_code == 409


async def test_a_seated_clients_own_appointments_keep_the_overlap_rule(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    start = booking.at(hours=96)
    group = await _group(booking, practice, start)
    busy, seated = await booking.client(site_id), await booking.client(site_id)
    other = await booking.counselor(site_id)
    elsewhere = await booking.appointment(other, busy, start + timedelta(minutes=60))

    refused = await _seat(booking, group, busy)

    assert refused.status_code == 409, refused.text
    assert refused.json()["conflicting_appointment_id"] == elsewhere["id"]
    assert refused.json()["conflicting_resource"] == "client"
    seat = (await _seat(booking, group, seated)).json()
    over = await booking.post(
        "/appointments",
        {
            "counselor_id": other["id"],
            "client_id": seated["id"],
            "start": (start + timedelta(minutes=10)).isoformat(),
            "modality": "online",
        },
    )
    assert over.status_code == 409, over.text
    assert over.json()["conflicting_appointment_id"] == seat["id"]


async def test_a_group_moves_with_all_its_seats_or_not_at_all(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    start = booking.at(hours=120)
    group = await _group(booking, practice, start)
    free, busy = await booking.client(site_id), await booking.client(site_id)
    seats = [(await _seat(booking, group, c)).json() for c in (free, busy)]
    later = start + timedelta(days=1)
    other = await booking.counselor(site_id)
    blocking = await booking.appointment(other, busy, later)
    in_the_way = await booking.appointment(
        practice["counselor"], await booking.client(site_id), later + timedelta(minutes=60)
    )

    refused = await booking.post(
        f"/group-sessions/{group['id']}/reschedule", {"start": later.isoformat()}
    )

    assert refused.status_code == 409, refused.text
    conflicts = refused.json()["conflicts"]
    assert {(c["conflicting_resource"], c["client_id"]) for c in conflicts} == {
        ("counselor", None),
        ("client", busy["id"]),
    }
    by_resource = {c["conflicting_resource"]: c for c in conflicts}
    assert by_resource["counselor"]["conflicting_appointment_id"] == in_the_way["id"]
    assert by_resource["client"]["conflicting_appointment_id"] == blocking["id"]
    unchanged = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert unchanged["start"] == group["start"]
    for seat in seats:
        assert (await booking.get(f"/appointments/{seat['id']}")).json()["start"] == group["start"]

    elsewhere = start + timedelta(days=2)
    bigger = await booking.room(site_id, name="Group room")
    moved = await booking.post(
        f"/group-sessions/{group['id']}/reschedule",
        {"start": elsewhere.isoformat(), "room_id": bigger["id"]},
    )

    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["start"]) == elsewhere
    assert moved.json()["room_id"] == bigger["id"]
    for seat in seats:
        now = (await booking.get(f"/appointments/{seat['id']}")).json()
        assert datetime.fromisoformat(now["start"]) == elsewhere
        assert now["room_id"] == bigger["id"]
        assert now["status"] == "booked"
    # The old time is free again for the counselor.
    await booking.appointment(practice["counselor"], await booking.client(site_id), start)


async def test_a_client_cannot_cancel_a_whole_group(booking: Booking) -> None:
    """Each seat would be cancelled as its client's late cancellation: every seated client
    charged the fee for one person's call. A client cancels their own seat instead."""
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=150))
    seat = (await _seat(booking, group, await booking.client(site_id))).json()

    refused = await booking.post(
        f"/group-sessions/{group['id']}/cancel", {"reason": "sick", "cancelled_by": "client"}
    )

    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["cancelled_by"]
    assert (await booking.get(f"/group-sessions/{group['id']}")).json()["status"] == "booked"
    assert (await booking.get(f"/appointments/{seat['id']}")).json()["status"] == "booked"


async def test_cancelling_a_group_cancels_every_booked_seat(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    start = booking.at(hours=150)
    group = await _group(booking, practice, start)
    seats = [(await _seat(booking, group, await booking.client(site_id))).json() for _ in range(2)]

    cancelled = await booking.post(f"/group-sessions/{group['id']}/cancel", CANCEL)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["seats"] == []
    assert cancelled.json()["seats_left"] == 0
    for seat in seats:
        found = (await booking.get(f"/appointments/{seat['id']}")).json()
        assert found["status"] == "cancelled"
        assert found["cancelled_by"] == "center"
    again = await booking.post(f"/group-sessions/{group['id']}/cancel", CANCEL)
    assert again.status_code == 409
    late = await _seat(booking, group, await booking.client(site_id))
    assert late.status_code == 409
    # The counselor's and the room's time are free again.
    await booking.appointment(
        practice["counselor"],
        await booking.client(site_id),
        start,
        modality="in_person",
        room_id=practice["room"]["id"],
    )


async def test_a_cancelled_groups_time_is_offered_to_the_waitlist(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=30), modality="online", room_id=None)
    assert (await _seat(booking, group, await booking.client(site_id))).status_code == 201
    waiting = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site_id))["id"], "site_id": site_id}
    )

    cancelled = await booking.post(f"/group-sessions/{group['id']}/cancel", CANCEL)

    assert cancelled.status_code == 200, cancelled.text
    offers = (await booking.get(f"/waitlist/{waiting['id']}")).json()["offers"]
    assert [o["status"] for o in offers] == ["open"]
    assert offers[0]["start"] == group["start"]


async def test_each_seat_completes_or_misses_on_its_own(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=1))
    came, missed = await booking.client(site_id), await booking.client(site_id)
    seat_came = (await _seat(booking, group, came)).json()
    seat_missed = (await _seat(booking, group, missed)).json()
    booking.clock.advance(timedelta(hours=2))

    completed = await booking.post(
        f"/appointments/{seat_came['id']}/complete",
        {"goal_horizon": "short_term", "goals": ["Sleep better"], "risk_level": "low"},
    )
    no_show = await booking.post(f"/appointments/{seat_missed['id']}/no-show")

    assert completed.status_code == 200, completed.text
    assert completed.json()["goals"] == ["Sleep better"]
    assert no_show.status_code == 200, no_show.text
    found = (await booking.get(f"/group-sessions/{group['id']}")).json()
    assert {s["client_id"]: s["status"] for s in found["seats"]} == {
        came["id"]: "completed",
        missed["id"]: "no_show",
    }
    assert found["seats_left"] == 1
    # SiteRegistered, StaffRegistered, two ClientRegistered, the group's, two seats', then these.
    events = await site_events(booking.nats_url, site_id, 9)
    data = {e["type"]: e["data"] for _, e, _ in events}
    assert data["SessionCompleted"]["group_session_id"] == group["id"]
    assert data["SessionMissed"]["group_session_id"] == group["id"]


async def test_events_name_the_group_and_no_client_in_its_own(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    group = await _group(booking, practice, booking.at(hours=200))
    client = await booking.client(site_id)
    seat = (await _seat(booking, group, client)).json()
    answer = await booking.post(
        f"/group-sessions/{group['id']}/reschedule",
        {"start": booking.at(hours=201).isoformat()},
    )
    assert answer.status_code == 200, answer.text
    assert (await booking.post(f"/group-sessions/{group['id']}/cancel", CANCEL)).status_code == 200

    # SiteRegistered, StaffRegistered, ClientRegistered, then the group's and the seat's.
    events = [
        e
        for e in await site_events(booking.nats_url, site_id, 9)
        if e[1]["type"] not in {"SiteRegistered", "StaffRegistered", "ClientRegistered"}
    ]

    types = [e["type"] for _, e, _ in events]
    assert types == [
        "GroupSessionScheduled",
        "AppointmentBooked",
        "GroupSessionRescheduled",
        "AppointmentRescheduled",
        "GroupSessionCancelled",
        "AppointmentCancelled",
    ]
    for _, envelope, raw in events:
        data = envelope["data"]
        if envelope["type"].startswith("GroupSession"):
            assert data["group_session_id"] == group["id"]
            assert data["capacity"] == 3
            assert "client_id" not in data
        else:
            assert data["group_session_id"] == group["id"]
            assert data["appointment_id"] == seat["id"]
        assert b"Counselor ill" not in raw


async def test_group_time_is_taken_in_availability(booking: Booking) -> None:
    practice = await _practice(booking, timezone="UTC")
    site_id, counselor = practice["site"]["id"], practice["counselor"]
    weekdays = [{"weekday": d, "from": "09:00", "to": "12:00"} for d in range(1, 8)]
    hours = await booking.http.put(
        f"/staff/{counselor['id']}/working-hours",
        json={"weekly": weekdays},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert hours.status_code == 200, hours.text
    day = (booking.clock.now() + timedelta(days=3)).astimezone(UTC)
    day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    await _group(booking, practice, day.replace(hour=10), duration_minutes=60)

    answer = await booking.get(
        "/availability",
        site_id=site_id,
        counselor_id=counselor["id"],
        duration_minutes="60",
        **{"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
    )

    assert answer.status_code == 200, answer.text
    starts = [datetime.fromisoformat(s["start"]).strftime("%H:%M") for s in answer.json()]
    assert starts == ["09:00", "11:00"]


async def test_group_sessions_are_listed_a_page_at_a_time_and_only_to_their_site(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    counselor_id = practice["counselor"]["id"]
    start = booking.at(hours=300)
    made = [
        await _group(booking, practice, start + timedelta(hours=2 * n), capacity=2)
        for n in range(3)
    ]
    seat = await _seat(booking, made[0], await booking.client(practice["site"]["id"]))
    assert seat.status_code == 201

    first = await booking.get("/group-sessions", counselor_id=counselor_id, limit="2")
    assert first.status_code == 200, first.text
    cursor = first.headers["Next-Cursor"]
    rest = await booking.get("/group-sessions", counselor_id=counselor_id, limit="2", cursor=cursor)
    listed = first.json() + rest.json()
    assert [g["id"] for g in listed] == [g["id"] for g in made]
    assert listed[0]["seats_left"] == 1
    window = await booking.get(
        "/group-sessions",
        site_id=practice["site"]["id"],
        **{
            "from": (start + timedelta(minutes=100)).isoformat(),
            "to": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert [g["id"] for g in window.json()] == [made[1]["id"]]
    hidden = await booking.get("/group-sessions", key="elsewhere-key", counselor_id=counselor_id)
    assert hidden.status_code == 200
    assert hidden.json() == []
    assert (
        await booking.get(f"/group-sessions/{made[0]['id']}", key="elsewhere-key")
    ).status_code == 403
