"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost child row or a statement run out of
order would show as a difference)."""

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking, eventually
from tests.booking.integration.test_group_waitlist import _published
from tests.booking.integration.test_waitlist import _accept_path
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
    "site_closures",
    "holds",
    "appointment_series",
    "series_appointments",
    "waitlist_entries",
    "waitlist_offers",
    "waitlist_deferred_slots",
    "group_sessions",
    "group_session_series",
)


async def _put(booking: Booking, path: str, body: Any) -> None:
    answer = await booking.http.put(
        path, json=body, headers={"Authorization": "Bearer dev-admin-key"}
    )
    assert answer.status_code == 200, answer.text


async def _site_with_history(booking: Booking, number: int) -> dict[str, Any]:
    """A site, its rules and closures, two counselors with hours (one's contact details
    changed), a room, clients; appointments booked, moved, cancelled and completed (the clock
    moves on: holds and offers come later)."""
    site = await booking.site(timezone="UTC", late_cancellation_window="PT3H")
    await _put(booking, f"/sites/{site['id']}/booking-rules", {"buffer_minutes": 5 + number})
    holiday = {"from": "2030-12-25", "to": "2030-12-26", "kind": "public_holiday"}
    await _put(booking, f"/sites/{site['id']}/closures", {"closures": [holiday]})
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
    await _groups(booking, counselors[1], room, clients)
    return {"site": site, "counselors": counselors, "clients": clients}


async def _groups(
    booking: Booking, counselor: dict[str, Any], room: dict[str, Any], clients: list[Any]
) -> None:
    """A group session with two seats, moved (one seat cancelled first), a cancelled one, and
    a full one with a waitlist."""
    moved = await booking.created(
        "/group-sessions",
        {
            "counselor_id": counselor["id"],
            "room_id": room["id"],
            "start": booking.at(hours=8).isoformat(),
            "modality": "in_person",
            "capacity": 4,
        },
    )
    seats = [
        await booking.created(f"/group-sessions/{moved['id']}/seats", {"client_id": c["id"]})
        for c in clients[2:4]
    ]
    answer = await booking.post(
        f"/appointments/{seats[0]['id']}/cancel", {"reason": "r", "cancelled_by": "client"}
    )
    assert answer.status_code == 200, answer.text
    answer = await booking.post(
        f"/group-sessions/{moved['id']}/reschedule", {"start": booking.at(hours=9).isoformat()}
    )
    assert answer.status_code == 200, answer.text
    cancelled = await booking.created(
        "/group-sessions",
        {
            "counselor_id": counselor["id"],
            "start": booking.at(hours=12).isoformat(),
            "modality": "online",
            "capacity": 2,
        },
    )
    await booking.created(
        f"/group-sessions/{cancelled['id']}/seats", {"client_id": clients[0]["id"]}
    )
    answer = await booking.post(
        f"/group-sessions/{cancelled['id']}/cancel", {"reason": "r", "cancelled_by": "center"}
    )
    assert answer.status_code == 200, answer.text
    await _group_waitlist(booking, counselor, clients)
    await _group_series(booking, counselor, clients)


async def _group_series(booking: Booking, counselor: dict[str, Any], clients: list[Any]) -> None:
    """A recurring group, two clients seated in it, one leaving it, a third waiting for its
    full second occurrence and leaving it (the entry closed, `left_series`), cancelled from
    its second occurrence (the series' stream holds each seat summary)."""
    series = await booking.created(
        "/group-session-series",
        {
            "counselor_id": counselor["id"],
            "start": booking.at(hours=16).isoformat(),
            "modality": "online",
            "capacity": 3,
            "rrule": "FREQ=WEEKLY;COUNT=3",
        },
    )
    path = f"/group-session-series/{series['id']}"
    for client in clients[:2]:
        answer = await booking.post(f"{path}/seats", {"client_id": client["id"]})
        assert answer.status_code == 200, answer.text
    second_id = series["occurrences"][1]["id"]
    await booking.created(f"/group-sessions/{second_id}/seats", {"client_id": clients[2]["id"]})
    await booking.created(f"/group-sessions/{second_id}/waitlist", {"client_id": clients[3]["id"]})
    leave = {"reason": "r", "cancelled_by": "client"}
    answer = await booking.post(f"{path}/seats/{clients[3]['id']}/cancel", leave)
    assert answer.status_code == 200, answer.text
    answer = await booking.post(f"{path}/seats/{clients[1]['id']}/cancel", leave)
    assert answer.status_code == 200, answer.text
    second = datetime.fromisoformat(series["occurrences"][1]["start"]).date()
    cancel = {"reason": "r", "cancelled_by": "center", "from": second.isoformat()}
    answer = await booking.post(f"{path}/cancel", cancel)
    assert answer.status_code == 200, answer.text


async def _group_waitlist(booking: Booking, counselor: dict[str, Any], clients: list[Any]) -> None:
    """A full group whose waitlist is offered a seat raised: entries, offer and the seat's
    hold (or deferred slot) naming the group, and its capacity changed."""
    full = await booking.created(
        "/group-sessions",
        {
            "counselor_id": counselor["id"],
            "start": booking.at(hours=14).isoformat(),
            "modality": "online",
            "capacity": 2,
        },
    )
    for client in clients[:2]:
        await booking.created(f"/group-sessions/{full['id']}/seats", {"client_id": client["id"]})
    for client in clients[2:4]:
        await booking.created(f"/group-sessions/{full['id']}/waitlist", {"client_id": client["id"]})
    answer = await booking.post(f"/group-sessions/{full['id']}/capacity", {"capacity": 3})
    assert answer.status_code == 200, answer.text
    # The first sites' seat is held for an offer; the last's, raised at 21:00, after the
    # offer window, waits for the window's opening (a deferred slot naming the group).
    assert answer.json()["seats_held"] == (1 if booking.clock.now().hour < 20 else 0)


async def _expired_holds_released(booking: Booking) -> None:
    """The hold timer has released every hold the clock has passed (a group's seat offers,
    made hours ago on the clock), so the live rows no longer change under the rebuild."""

    async def released() -> bool:
        conn = await connect(booking.database_url)
        try:
            due = await conn.fetchval(
                "SELECT count(*) FROM holds WHERE status = 'held' AND due_at <= $1",
                booking.clock.now(),
            )
        finally:
            await conn.close()
        return bool(due == 0)

    await eventually(released)


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
    # A waiting client, then a freed slot: at 21:00 at this UTC site, outside the offer
    # window, it waits for the window to open (a deferred slot).
    assert booking.clock.now().hour >= 20
    await booking.created("/waitlist", {"client_id": clients[2]["id"], "site_id": site_id})
    taken = await booking.appointment(first, clients[1], booking.at(hours=40))
    answer = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert answer.status_code == 200, answer.text
    # The same at a site where it is 16:00: the entry gets an offer (and its hold).
    there = await booking.site(timezone="America/New_York")
    counselor = await booking.counselor(there["id"])
    waiting = await booking.client(there["id"])
    first = await booking.created("/waitlist", {"client_id": waiting["id"], "site_id": there["id"]})
    booking.clock.advance(timedelta(seconds=1))
    then = await booking.client(there["id"])
    await booking.created("/waitlist", {"client_id": then["id"], "site_id": there["id"]})
    taken = await booking.appointment(
        counselor, await booking.client(there["id"]), booking.at(hours=40)
    )
    answer = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert answer.status_code == 200, answer.text
    await _leave_and_decline(booking, there["id"], first)


async def _leave_and_decline(booking: Booking, site_id: str, offered: dict[str, Any]) -> None:
    """The offered entry is withdrawn (its offer withdrawn, the next entry offered), the next
    offer declined, and a third client's entry closed with their care episode."""
    answer = await booking.post(
        f"/waitlist/{offered['id']}/withdraw", {"reason": "booked_elsewhere"}
    )
    assert answer.status_code == 200, answer.text
    made = await _published(booking, site_id, "WaitlistOfferMade", expected=2)
    declined = await booking.http.post(
        _accept_path(made[1]["accept_url"]).replace("/accept?", "/decline?")
    )
    assert declined.status_code == 200, declined.text
    leaving = await booking.client(site_id)
    await booking.created("/waitlist", {"client_id": leaving["id"], "site_id": site_id})
    answer = await booking.post(
        f"/clients/{leaving['id']}/episode/close",
        {"reason": "moved", "effective_on": "2030-01-01"},
    )
    assert answer.status_code == 200, answer.text


async def _drift(database_url: str) -> None:
    """Projection rows that no longer match the store, as a rebuild must repair them: two
    appointments of one counselor in each other's slot (rows and claims), a booked one gone
    and a stray hold's claim in its slot, a stray appointment with its claim, other goals on a
    completed one, a claim a minute longer (one-to-one appointments: a group's seats share its
    slot). Only a rebuild that deletes every differing row
    before it inserts the rebuilt ones gets through without an exclusion violation."""
    conn = await connect(database_url)
    try:
        a, b = await conn.fetch(
            """SELECT id, start_at, end_at FROM appointments
               WHERE status = 'booked' AND group_session_id IS NULL
               AND counselor_id = (SELECT counselor_id FROM appointments
                                   WHERE status = 'booked' AND group_session_id IS NULL
                                   GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)
               ORDER BY start_at LIMIT 2"""
        )
        gone, longer = await conn.fetch(
            """SELECT id, start_at, end_at FROM appointments
               WHERE status = 'booked' AND group_session_id IS NULL AND id <> ALL($1::uuid[])
               ORDER BY start_at LIMIT 2""",
            [a["id"], b["id"]],
        )
        for table, key in (("appointments", "id"), ("slot_claims", "owner_id")):
            move = f"UPDATE {table} SET start_at = $2, end_at = $3 WHERE {key} = $1"
            far = timedelta(days=400)
            await conn.execute(move, a["id"], a["start_at"] + far, a["end_at"] + far)
            await conn.execute(move, b["id"], a["start_at"], a["end_at"])
            await conn.execute(move, a["id"], b["start_at"], b["end_at"])
        await conn.execute("DELETE FROM slot_claims WHERE owner_id = $1", gone["id"])
        await conn.execute("DELETE FROM appointments WHERE id = $1", gone["id"])
        await conn.execute(
            """INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, start_at,
                                        end_at)
               SELECT gen_random_uuid(), 'hold', site_id, counselor_id, $2, $3
               FROM appointments WHERE id = $1""",
            a["id"],
            gone["start_at"],
            gone["end_at"],
        )
        stray = uuid4()
        await conn.execute(
            """INSERT INTO appointments
               SELECT $2, site_id, client_id, counselor_id, room_id, modality,
                      start_at + interval '500 days', end_at + interval '500 days', status,
                      booked_at, cancelled_by, late, cancel_reason, cancelled_at, missed_at,
                      completed_at, goal_horizon, goals, next_steps, risk_level, risk_flag_id,
                      version, fee_amount, fee_currency
               FROM appointments WHERE id = $1""",
            b["id"],
            stray,
        )
        await conn.execute(
            """INSERT INTO slot_claims
               SELECT $2, owner_kind, site_id, counselor_id, room_id, client_id,
                      start_at + interval '500 days', end_at + interval '500 days'
               FROM slot_claims WHERE owner_id = $1""",
            b["id"],
            stray,
        )
        changed = await conn.execute(
            """UPDATE appointments SET goals = '["not", "these"]'
               WHERE id = (SELECT id FROM appointments WHERE status = 'completed' LIMIT 1)"""
        )
        assert changed == "UPDATE 1"
        await conn.execute(
            "UPDATE slot_claims SET end_at = end_at + interval '1 minute' WHERE owner_id = $1",
            longer["id"],
        )
    finally:
        await conn.close()


async def _emptied(database_url: str) -> None:
    """No appointment rows at all (the rebuild truncates and copies straight in)."""
    conn = await connect(database_url)
    try:
        await conn.execute("TRUNCATE appointments, slot_claims")
    finally:
        await conn.close()


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    booking: Booking,
) -> None:
    """Rebuilt three times from the same store: over the rows as written, over rows that
    drifted (`appointments` and `slot_claims` compared with the rebuilt rows), and over emptied
    appointments (truncated and copied straight in)."""
    practices = [await _site_with_history(booking, n) for n in range(SITES)]
    for practice in practices:
        await _holds_series_and_offers(booking, practice)
    await _expired_holds_released(booking)
    live = await _rebuilt_tables(booking.database_url)
    assert all(len(live[t]) >= SITES for t in REBUILT), {t: len(r) for t, r in live.items()}
    # Entries left (withdrawn, closed) and offers declined or withdrawn are rebuilt too.
    assert {"withdrawn", "closed"} <= {r["status"] for r in live["waitlist_entries"]}
    assert "left_series" in {r["left_reason"] for r in live["waitlist_entries"]}
    assert {"withdrawn", "declined"} <= {r["status"] for r in live["waitlist_offers"]}
    indexes = await index_definitions(booking.database_url)
    for spoil in (None, _drift, _emptied):
        if spoil is not None:
            await spoil(booking.database_url)
            assert await _rebuilt_tables(booking.database_url) != live, spoil
        # Every kind's tables without their indexes and constraints meanwhile, however few
        # rows.
        counts = await rebuild_in_small_batches(
            booking.database_url, rebuild_projections, many_streams=1
        )

        # The rebuild drops the tables' secondary indexes and foreign keys while it writes:
        # every one is back, as the migrations defined it.
        assert await index_definitions(booking.database_url) == indexes
        assert ("appointments", "appointments_by_counselor") in indexes
        assert ("appointments", "appointments_counselor_free") in indexes
        assert ("appointments", "appointments_client_id_fkey") in indexes

        rebuilt = await _rebuilt_tables(booking.database_url)
        for table in REBUILT:
            assert rebuilt[table] == live[table], (spoil, table)
        assert min(counts.values()) >= SITES, counts


async def _rebuilt_tables(database_url: str) -> dict[str, list[dict[str, Any]]]:
    return {t: rows for t, rows in (await snapshot(database_url)).items() if t in REBUILT}


# (many_streams, emptied first): compared with the rows; truncated with the indexes kept; and
# emptied, then truncated and copied into with the indexes and foreign keys dropped meanwhile
# (what `make bench` times as "appointments and slot_claims emptied first").
@pytest.mark.parametrize(("many_streams", "emptied"), [(1, False), (1000, False), (1, True)])
async def test_a_store_that_double_books_fails_the_rebuild_and_leaves_the_rows(
    booking: Booking, many_streams: int, emptied: bool
) -> None:
    site = await booking.site()
    counselor, client = await booking.counselor(site["id"]), await booking.client(site["id"])
    booked = await booking.appointment(counselor, client, booking.at(hours=10))
    twin = str(uuid4())
    conn = await connect(booking.database_url)
    try:
        before = await conn.fetch("SELECT * FROM appointments ORDER BY id")
        async with conn.transaction():  # rolled back: the relay never sees the twin
            if emptied:
                await conn.execute("TRUNCATE appointments, slot_claims")
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
                # Nested: a savepoint. With 1, its indexes dropped whatever the count of
                # streams and `appointments` compared with the rebuilt rows.
                await rebuild_projections(conn, many_streams=many_streams)
            after = await conn.fetch("SELECT * FROM appointments ORDER BY id")
            raise _RollBack
    except _RollBack:
        pass
    finally:
        await conn.close()
    assert after == ([] if emptied else before)
    assert emptied or any(r["id"] == UUID(booked["id"]) for r in after)


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
