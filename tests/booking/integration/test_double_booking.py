"""Double booking is impossible: PostgreSQL's exclusion constraints decide, under load too."""

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


@pytest.fixture
async def practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site()
    return {
        "site": site,
        "counselor": await booking.counselor(site["id"]),
        "other_counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
        "other_client": await booking.client(site["id"]),
        "room": await booking.room(site["id"]),
    }


async def test_sixteen_simultaneous_bookings_of_one_slot_give_one_201_and_fifteen_409s(
    booking: Booking,
) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    clients = [await booking.client(site["id"]) for _ in range(16)]
    start = booking.at(hours=48).isoformat()

    async def book(client: dict[str, Any]) -> Any:
        body = {
            "counselor_id": counselor["id"],
            "client_id": client["id"],
            "start": start,
            "modality": "online",
        }
        return await booking.post("/appointments", body)

    answers = await asyncio.gather(*(book(c) for c in clients))

    assert Counter(a.status_code for a in answers) == {201: 1, 409: 15}
    winner = next(a.json() for a in answers if a.status_code == 201)
    for loser in (a for a in answers if a.status_code == 409):
        assert loser.headers["content-type"] == "application/problem+json"
        assert loser.json()["conflicting_appointment_id"] == winner["id"]
        assert loser.json()["conflicting_resource"] == "counselor"
    conn = await asyncpg.connect(booking.database_url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM appointments WHERE counselor_id = $1", uuid.UUID(counselor["id"])
        )
        appended = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'AppointmentBooked'"
            " AND data->>'counselor_id' = $1",
            counselor["id"],
        )
    finally:
        await conn.close()
    assert [str(r["id"]) for r in rows] == [winner["id"]]
    assert appended == 1  # the losers' events rolled back with their projection rows


@pytest.mark.parametrize(
    ("offset", "minutes", "overlaps"),
    [
        (timedelta(minutes=50), 50, False),  # starts as the first ends
        (timedelta(minutes=-50), 50, False),  # ends as the first starts
        (timedelta(minutes=49), 50, True),
        (timedelta(minutes=-49), 50, True),
        (timedelta(minutes=10), 15, True),  # inside
        (timedelta(minutes=-10), 120, True),  # around
    ],
)
async def test_a_counselor_cannot_be_double_booked_but_back_to_back_is_fine(
    booking: Booking,
    practice: dict[str, Any],
    offset: timedelta,
    minutes: int,
    overlaps: bool,
) -> None:
    start = booking.at(hours=72)
    first = await booking.appointment(practice["counselor"], practice["client"], start)

    second = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["counselor"]["id"],
            "client_id": practice["other_client"]["id"],
            "start": (start + offset).isoformat(),
            "duration_minutes": minutes,
            "modality": "phone",
        },
    )

    if overlaps:
        assert second.status_code == 409, second.text
        assert second.json()["conflicting_appointment_id"] == first["id"]
    else:
        assert second.status_code == 201, second.text


async def test_a_room_cannot_hold_two_sessions_at_once(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=24)
    first = await booking.appointment(
        practice["counselor"],
        practice["client"],
        start,
        modality="in_person",
        room_id=practice["room"]["id"],
    )

    clash = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["other_counselor"]["id"],
            "client_id": practice["other_client"]["id"],
            "room_id": practice["room"]["id"],
            "start": (start + timedelta(minutes=30)).isoformat(),
            "modality": "in_person",
        },
    )

    assert clash.status_code == 409
    assert clash.json()["conflicting_appointment_id"] == first["id"]
    assert clash.json()["conflicting_resource"] == "room"


async def test_a_client_cannot_be_in_two_sessions_at_once(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=30)
    first = await booking.appointment(practice["counselor"], practice["client"], start)

    clash = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["other_counselor"]["id"],
            "client_id": practice["client"]["id"],
            "start": (start - timedelta(minutes=20)).isoformat(),
            "modality": "online",
        },
    )

    assert clash.status_code == 409
    assert clash.json()["conflicting_appointment_id"] == first["id"]
    assert clash.json()["conflicting_resource"] == "client"


async def test_a_cancelled_appointment_frees_its_slot(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=96)
    first = await booking.appointment(practice["counselor"], practice["client"], start)
    cancelled = await booking.post(
        f"/appointments/{first['id']}/cancel", {"reason": "travel", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200

    again = await booking.appointment(practice["counselor"], practice["other_client"], start)

    assert again["status"] == "booked"


async def test_reschedule_into_a_taken_slot_is_409(
    booking: Booking, practice: dict[str, Any]
) -> None:
    start = booking.at(hours=120)
    taken = await booking.appointment(practice["counselor"], practice["client"], start)
    moving = await booking.appointment(
        practice["counselor"], practice["other_client"], start + timedelta(hours=2)
    )

    into_taken = await booking.post(
        f"/appointments/{moving['id']}/reschedule",
        {"start": (start + timedelta(minutes=30)).isoformat()},
    )
    onto_itself = await booking.post(
        f"/appointments/{moving['id']}/reschedule",
        {"start": (start + timedelta(hours=2, minutes=10)).isoformat()},
    )

    assert into_taken.status_code == 409
    assert into_taken.json()["conflicting_appointment_id"] == taken["id"]
    assert onto_itself.status_code == 200, onto_itself.text  # overlapping its own old slot


async def test_simultaneous_bookings_of_one_room_by_different_counselors_give_one_booking(
    booking: Booking,
) -> None:
    site = await booking.site()
    room = await booking.room(site["id"])
    pairs = [
        (await booking.counselor(site["id"]), await booking.client(site["id"])) for _ in range(8)
    ]
    start = booking.at(hours=200).isoformat()

    answers = await asyncio.gather(
        *(
            booking.post(
                "/appointments",
                {
                    "counselor_id": counselor["id"],
                    "client_id": client["id"],
                    "room_id": room["id"],
                    "start": start,
                    "modality": "in_person",
                },
            )
            for counselor, client in pairs
        )
    )

    assert Counter(a.status_code for a in answers) == {201: 1, 409: 7}
    winner = next(a.json() for a in answers if a.status_code == 201)
    assert {a.json()["conflicting_resource"] for a in answers if a.status_code == 409} == {"room"}
    assert {a.json()["conflicting_appointment_id"] for a in answers if a.status_code == 409} == {
        winner["id"]
    }
    assert await _appointments_where(booking, "room_id", room["id"]) == [winner["id"]]


async def test_simultaneous_bookings_of_one_client_with_different_counselors_give_one_booking(
    booking: Booking,
) -> None:
    site = await booking.site()
    client = await booking.client(site["id"])
    counselors = [await booking.counselor(site["id"]) for _ in range(8)]
    start = booking.at(hours=210).isoformat()

    answers = await asyncio.gather(
        *(
            booking.post(
                "/appointments",
                {
                    "counselor_id": counselor["id"],
                    "client_id": client["id"],
                    "start": start,
                    "modality": "online",
                },
            )
            for counselor in counselors
        )
    )

    assert Counter(a.status_code for a in answers) == {201: 1, 409: 7}
    assert {a.json()["conflicting_resource"] for a in answers if a.status_code == 409} == {"client"}
    winner = next(a.json() for a in answers if a.status_code == 201)
    assert await _appointments_where(booking, "client_id", client["id"]) == [winner["id"]]


async def test_simultaneous_reschedules_into_one_slot_move_exactly_one(
    booking: Booking,
) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    target = booking.at(hours=300)
    moving = [
        await booking.appointment(
            counselor, await booking.client(site["id"]), target + timedelta(hours=2 * (n + 1))
        )
        for n in range(6)
    ]

    answers = await asyncio.gather(
        *(
            booking.post(f"/appointments/{a['id']}/reschedule", {"start": target.isoformat()})
            for a in moving
        )
    )

    assert Counter(a.status_code for a in answers) == {200: 1, 409: 5}
    moved = next(a.json() for a in answers if a.status_code == 200)
    conn = await asyncpg.connect(booking.database_url)
    try:
        at_target = await conn.fetch(
            """SELECT id FROM appointments WHERE counselor_id = $1 AND start_at = $2
               AND status = 'booked'""",
            uuid.UUID(counselor["id"]),
            target,
        )
        rescheduled = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'AppointmentRescheduled'"
            " AND data->>'appointment_id' = ANY($1::text[])",
            [a["id"] for a in moving],
        )
    finally:
        await conn.close()
    assert [str(r["id"]) for r in at_target] == [moved["id"]]
    assert rescheduled == 1  # the losers' events rolled back


async def _appointments_where(booking: Booking, column: str, value: str) -> list[str]:
    conn = await asyncpg.connect(booking.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT id FROM appointments WHERE {column} = $1 AND status = 'booked'",
            uuid.UUID(value),
        )
    finally:
        await conn.close()
    return [str(r["id"]) for r in rows]


async def test_simultaneous_sessions_without_a_room_never_clash_on_the_room(
    booking: Booking,
) -> None:
    # The room constraints index only claims that have a room (migration 0004): roomless
    # sessions at one instant, each with its own counselor and client, are all booked.
    site = await booking.site()
    pairs = [
        (await booking.counselor(site["id"]), await booking.client(site["id"])) for _ in range(6)
    ]
    start = booking.at(hours=220).isoformat()

    answers = await asyncio.gather(
        *(
            booking.post(
                "/appointments",
                {
                    "counselor_id": counselor["id"],
                    "client_id": client["id"],
                    "start": start,
                    "modality": modality,
                },
            )
            for (counselor, client), modality in zip(pairs, ["online", "phone"] * 3, strict=True)
        )
    )

    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
