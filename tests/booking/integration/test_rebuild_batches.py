"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost child row or a statement run out of
order would show as a difference)."""

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking
from tests.projections import index_definitions, rebuild_in_small_batches, snapshot

pytestmark = pytest.mark.integration

SITES = 3
WEEKDAYS = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 6)]
REBUILT = (
    "sites",
    "staff",
    "rooms",
    "clients",
    "appointments",
    "slot_claims",
    "working_hours",
    "site_booking_rules",
    "holds",
    "appointment_series",
    "series_appointments",
    "waitlist_entries",
    "waitlist_offers",
)


async def _put(booking: Booking, path: str, body: Any) -> None:
    answer = await booking.http.put(
        path, json=body, headers={"Authorization": "Bearer dev-admin-key"}
    )
    assert answer.status_code == 200, answer.text


async def _site_with_history(booking: Booking, number: int) -> dict[str, Any]:
    """A site, its rules, two counselors with hours (one's contact details changed), a room,
    clients; appointments booked, moved, cancelled and completed (the clock moves on: holds
    and offers come later)."""
    site = await booking.site(timezone="UTC", late_cancellation_window="PT3H")
    await _put(booking, f"/sites/{site['id']}/booking-rules", {"buffer_minutes": 5 + number})
    counselors = [await booking.counselor(site["id"]) for _ in range(2)]
    for counselor in counselors:
        await _put(booking, f"/staff/{counselor['id']}/working-hours", {"weekly": WEEKDAYS})
    room = await booking.room(site["id"])
    changed = await booking.http.patch(
        f"/staff/{counselors[1]['id']}",
        json={"phone": None, "email": f"moved-{number}@center.example"},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert changed.status_code == 200, changed.text
    clients = [await booking.client(site["id"]) for _ in range(4)]
    moved = await booking.appointment(
        counselors[0], clients[0], booking.at(hours=1), modality="in_person", room_id=room["id"]
    )
    answer = await booking.post(
        f"/appointments/{moved['id']}/reschedule", {"start": booking.at(hours=2).isoformat()}
    )
    assert answer.status_code == 200, answer.text
    done = await booking.appointment(counselors[0], clients[1], booking.at(hours=3))
    cancelled = await booking.appointment(counselors[1], clients[2], booking.at(hours=5))
    answer = await booking.post(
        f"/appointments/{cancelled['id']}/cancel", {"reason": "r", "cancelled_by": "center"}
    )
    assert answer.status_code == 200, answer.text
    booking.clock.advance(timedelta(hours=4))
    answer = await booking.post(
        f"/appointments/{done['id']}/complete",
        {"goal_horizon": "long_term", "goals": ["a"], "risk_level": "none"},
    )
    assert answer.status_code == 200, answer.text
    return {"site": site, "counselors": counselors, "clients": clients}


async def _holds_series_and_offers(booking: Booking, practice: dict[str, Any]) -> None:
    site_id, (first, second) = practice["site"]["id"], practice["counselors"]
    clients = practice["clients"]
    await booking.created(
        "/holds",
        {
            "counselor_id": first["id"],
            "start": booking.at(hours=30).isoformat(),
            "duration_minutes": 50,
            "modality": "online",
        },
    )
    await booking.created(
        "/appointment-series",
        {
            "counselor_id": second["id"],
            "client_id": clients[3]["id"],
            "start": booking.at(days=14).isoformat(),
            "modality": "online",
            "rrule": "FREQ=WEEKLY;COUNT=3",
        },
    )
    # A waiting client, then a freed slot: the entry gets an offer (and its hold).
    await booking.created("/waitlist", {"client_id": clients[2]["id"], "site_id": site_id})
    taken = await booking.appointment(first, clients[1], booking.at(hours=40))
    answer = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert answer.status_code == 200, answer.text


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    booking: Booking,
) -> None:
    practices = [await _site_with_history(booking, n) for n in range(SITES)]
    for practice in practices:
        await _holds_series_and_offers(booking, practice)
    live = {t: rows for t, rows in (await snapshot(booking.database_url)).items() if t in REBUILT}
    assert all(len(live[t]) >= SITES for t in REBUILT), {t: len(r) for t, r in live.items()}
    indexes = await index_definitions(booking.database_url)
    # Every kind's tables without their indexes and constraints meanwhile, however few rows.
    counts = await rebuild_in_small_batches(
        booking.database_url, rebuild_projections, many_streams=1
    )

    # The rebuild drops the tables' secondary indexes and foreign keys while it writes: every
    # one is back, as the migrations defined it.
    assert await index_definitions(booking.database_url) == indexes
    assert ("appointments", "appointments_by_counselor") in indexes
    assert ("appointments", "appointments_counselor_free") in indexes
    assert ("appointments", "appointments_client_id_fkey") in indexes

    rebuilt = await snapshot(booking.database_url)
    for table in REBUILT:
        assert rebuilt[table] == live[table], table
    assert min(counts.values()) >= SITES, counts


async def test_a_store_that_double_books_fails_the_rebuild_and_leaves_the_rows(
    booking: Booking,
) -> None:
    site = await booking.site()
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    booked = await booking.appointment(counselor, client, booking.at(hours=10))
    twin = str(uuid4())
    conn = await connect(booking.database_url)
    try:
        before = await conn.fetch("SELECT * FROM appointments ORDER BY id")
        async with conn.transaction():  # rolled back: the relay never sees the twin
            # A second appointment, the same counselor, client and time: the write path
            # refuses it, so only a store written around it holds one.
            await conn.execute(
                """INSERT INTO events (id, stream_id, version, type, data, metadata)
                   SELECT gen_random_uuid(), 'appointment-' || $2, version, type,
                          replace(data::text, $1, $2)::jsonb, metadata
                   FROM events WHERE stream_id = 'appointment-' || $1""",
                booked["id"],
                twin,
            )
            with pytest.raises(asyncpg.ExclusionViolationError):
                # Nested: a savepoint. Its indexes dropped whatever the count of streams.
                await rebuild_projections(conn, many_streams=1)
            after = await conn.fetch("SELECT * FROM appointments ORDER BY id")
            raise _RollBack
    except _RollBack:
        pass
    finally:
        await conn.close()
    assert after == before
    assert any(r["id"] == UUID(booked["id"]) for r in after)


class _RollBack(Exception):
    """Leaves the test's transaction without committing it."""


async def test_the_rebuilds_asynchronous_commit_ends_with_it(booking: Booking) -> None:
    """`SET LOCAL synchronous_commit = off` is the rebuild's transaction's only: the connection
    commits synchronously again afterwards (a plain SET would leave it off for good)."""
    site = await booking.site()
    await booking.client(site["id"])
    conn = await connect(booking.database_url)
    try:
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        await rebuild_projections(conn)
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await conn.close()
