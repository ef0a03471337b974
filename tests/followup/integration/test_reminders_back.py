"""Reminders come back, on real PostgreSQL and NATS with time moved by a ControllableClock (no
sleeps beyond polling): a client who pauses on Monday and resumes on Wednesday is reminded of
Friday's session; a session booked before a closure is reminded, also once the client
re-engages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import ClosureReason, FollowUpKind, Modality
from counseling_shared.events import (
    AppointmentBooked,
    CareEpisodeClosed,
    FollowUpDue,
    IntegrationEvent,
)
from followup.adapters.postgres_store import TIMER_CHANNEL
from tests.followup.integration.support import (
    RunningFollowup,
    complete_session,
    eventually,
    followup_events,
    publish_as_booking,
    register_client,
    register_site,
)

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
_TODAY = datetime.now(PARIS).date()
# Monday of last week, 09:00 in Paris: each test moves the clock forward from its own Monday.
MONDAY = datetime.combine(_TODAY - timedelta(days=_TODAY.weekday() + 7), time(9), PARIS)
CLOCK = ControllableClock(MONDAY)


@pytest.fixture(scope="module")
async def service(
    database_url: str, nats_url: str, js: JetStreamContext
) -> AsyncIterator[RunningFollowup]:
    running = await RunningFollowup(database_url, nats_url, CLOCK).start()
    yield running
    await running.stop()


def _at(monday: datetime, days: int, hour: int, minute: int = 0) -> datetime:
    """That day's wall-clock time in Paris."""
    return datetime.combine(monday.date() + timedelta(days=days), time(hour, minute), PARIS)


async def _client(js: JetStreamContext, db: asyncpg.Pool[Any]) -> tuple[UUID, UUID]:
    site_id, client_id = uuid4(), uuid4()
    await register_site(js, site_id)
    await register_client(js, client_id, site_id)

    async def known() -> bool:
        found = await db.fetchval("SELECT site_id FROM clients WHERE client_id = $1", client_id)
        return bool(found == site_id)

    await eventually(known)
    return site_id, client_id


async def _book(js: JetStreamContext, site_id: UUID, client_id: UUID, start: datetime) -> UUID:
    event = AppointmentBooked(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=client_id,
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(minutes=50),
        modality=Modality.ONLINE,
    )
    await publish_as_booking(js, event, event.appointment_id)
    return event.appointment_id


async def _session(js: JetStreamContext, site_id: UUID, client_id: UUID) -> None:
    await complete_session(js, site_id, client_id, completed_at=CLOCK.now())


async def _followups(
    api: httpx.AsyncClient, client_id: UUID, kind: str = "reminder"
) -> list[tuple[str, datetime, str | None]]:
    """The client's follow-ups of `kind` as (status, due_at, cancel_reason), by due time."""
    answer = await api.get("/followups", params={"client_id": str(client_id)})
    assert answer.status_code == 200, answer.text
    return sorted(
        (f["status"], datetime.fromisoformat(f["due_at"]), f["cancel_reason"])
        for f in answer.json()
        if f["kind"] == kind
    )


async def _dues(js: JetStreamContext, site_id: UUID) -> list[Any]:
    found: list[IntegrationEvent] = [
        e for _, e in await followup_events(js, site_id, FollowUpDue.event_type)
    ]
    return [e for e in found if isinstance(e, FollowUpDue) and e.kind is FollowUpKind.REMINDER]


async def _move_clock(db: asyncpg.Pool[Any], instant: datetime) -> None:
    """Move the service's clock and wake its scheduler (asleep up to its listening poll,
    counted in real seconds, otherwise)."""
    CLOCK.set(instant)
    await db.execute("SELECT pg_notify($1, '')", TIMER_CHANNEL)


async def _prefer(api: httpx.AsyncClient, client_id: UUID, intensity: str) -> None:
    answer = await api.put(
        f"/clients/{client_id}/followup-preferences", json={"intensity": intensity}
    )
    assert answer.status_code == 200, answer.text


async def test_paused_on_monday_resumed_on_wednesday_the_friday_session_is_reminded(
    js: JetStreamContext, api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    CLOCK.set(MONDAY)
    site_id, client_id = await _client(js, db)
    friday = _at(MONDAY, 4, 10)
    thursday_reminder, friday_reminder = _at(MONDAY, 3, 10), _at(MONDAY, 4, 8)
    await _book(js, site_id, client_id, friday)
    planned = [("scheduled", thursday_reminder, None), ("scheduled", friday_reminder, None)]
    assert await eventually(lambda: _followups(api, client_id)) == planned

    await _prefer(api, client_id, "paused")  # Monday: "no more messages for now"
    assert await _followups(api, client_id) == [
        ("cancelled", thursday_reminder, "paused"),
        ("cancelled", friday_reminder, "paused"),
    ]

    CLOCK.set(_at(MONDAY, 2, 9))  # Wednesday
    await _prefer(api, client_id, "standard")
    found = await _followups(api, client_id)
    assert [f for f in found if f[0] == "scheduled"] == planned, found

    await _move_clock(db, thursday_reminder + timedelta(seconds=1))
    [first] = await eventually(lambda: _dues(js, site_id))
    assert (first.due_at, first.appointment_start) == (thursday_reminder, friday)
    await _move_clock(db, friday_reminder + timedelta(seconds=1))

    async def both() -> list[Any]:
        dues = await _dues(js, site_id)
        return dues if len(dues) == 2 else []

    [_, second] = await eventually(both)
    assert (second.due_at, second.appointment_start) == (friday_reminder, friday)


async def test_a_session_booked_before_a_closure_is_reminded_once_the_client_re_engages(
    js: JetStreamContext, api: httpx.AsyncClient, db: asyncpg.Pool[Any]
) -> None:
    monday = MONDAY + timedelta(days=14)
    CLOCK.set(monday)
    site_id, client_id = await _client(js, db)
    await _session(js, site_id, client_id)
    await eventually(lambda: _followups(api, client_id, "checkin"))
    thursday = _at(monday, 3, 10)
    await _book(js, site_id, client_id, thursday)
    reminders = [("scheduled", _at(monday, 2, 10), None), ("scheduled", _at(monday, 3, 8), None)]
    assert await eventually(lambda: _followups(api, client_id)) == reminders

    closure = CareEpisodeClosed(
        client_id=client_id,
        site_id=site_id,
        reason=ClosureReason.GOALS_MET,
        effective_on=monday.date(),
        referred=False,
    )
    await publish_as_booking(js, closure, client_id)
    await eventually(lambda: _followups(api, client_id, "post_closure"))
    # booking still holds Thursday's session: its reminders stay.
    assert await _followups(api, client_id) == reminders

    CLOCK.set(_at(monday, 1, 9))  # Tuesday: the client comes back for a session
    await _session(js, site_id, client_id)

    async def reengaged() -> bool:
        found = await _followups(api, client_id, "post_closure")
        return bool(found) and all(reason == "reengaged" for _, _, reason in found)

    await eventually(reengaged)
    assert await _followups(api, client_id) == reminders

    await _move_clock(db, _at(monday, 2, 10) + timedelta(seconds=1))
    [due] = await eventually(lambda: _dues(js, site_id))
    assert due.appointment_start == thursday
