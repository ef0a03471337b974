"""One contract for the FollowupStore port: the in-memory fake and the asyncpg adapter alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel, FollowUpKind, GoalHorizon, Intensity
from counseling_shared.db import connect, create_pool
from counseling_shared.eventstore import NewEvent, read_stream
from counseling_shared.migrations import apply_migrations
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.application.ports import FollowupStore
from followup.bootstrap import MIGRATIONS
from followup.domain import followup
from followup.domain.appointments import Appointment, AppointmentStatus
from followup.domain.client_care import ClientCare
from followup.domain.durations import parse_duration
from followup.domain.followup import FollowUp, Progress, Status
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy
from followup.domain.preferences import FollowUpPreferences
from tests.followup.unit.fakes import InMemoryFollowupStore, RecordingUnitOfWork

pytestmark = pytest.mark.integration
NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, MIGRATIONS)
    finally:
        await conn.close()
    db = await create_pool(database_url, max_size=2)
    yield db
    await db.close()


@pytest.fixture(params=["memory", "postgres"])
async def store(
    request: pytest.FixtureRequest, pool: asyncpg.Pool[Any]
) -> AsyncIterator[FollowupStore]:
    if request.param == "memory":
        yield InMemoryFollowupStore()
        return
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            yield PostgresFollowupStore(conn)
        finally:
            await tx.rollback()


def a_followup(client_id: Any, site_id: Any, status: Status, days: int) -> FollowUp:
    return FollowUp(
        id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.CHECKIN,
        due_at=NOW + timedelta(days=days),
        status=status,
        version=1,
        goal_horizon=GoalHorizon.SHORT_TERM,
        session_id=uuid4(),
        created_at=NOW,
        updated_at=NOW,
    )


async def test_a_site_without_a_policy_has_the_defaults_at_version_0(store: FollowupStore) -> None:
    assert await store.policy(uuid4()) == (DEFAULT_POLICY, 0)


async def test_a_saved_policy_reads_back_with_its_version(store: FollowupStore) -> None:
    site_id = uuid4()
    policy = FollowUpPolicy(
        short_term_every=parse_duration("PT2S"), post_closure_checkins=(parse_duration("P1Y"),)
    )
    await store.save_policy(site_id, policy, 3)
    assert await store.policy(site_id) == (policy, 3)


async def test_a_site_zone_is_unknown_until_saved(store: FollowupStore) -> None:
    site_id = uuid4()
    assert await store.site_timezone(site_id) is None
    assert await store.site_version(site_id) == 0
    await store.save_site(site_id, "Asia/Seoul", "ko", 1)
    assert await store.site_timezone(site_id) == "Asia/Seoul"
    assert await store.site_version(site_id) == 1


async def test_a_client_reads_back_as_saved(store: FollowupStore) -> None:
    client = ClientCare(
        client_id=uuid4(),
        version=4,
        site_id=uuid4(),
        timezone="Europe/Paris",
        locale="fr",
        preferences=FollowUpPreferences(Channel.SMS, Intensity.LIGHT),
        session_id=uuid4(),
        session_completed_at=NOW,
        goal_horizon=GoalHorizon.LONG_TERM,
        episode_closed_on=date(2025, 7, 1),
    )
    assert await store.client(client.client_id) is None
    await store.save_client(client)
    assert await store.client(client.client_id, for_update=True) == client


async def test_follow_ups_read_back_and_open_ones_are_scheduled_or_due(
    store: FollowupStore,
) -> None:
    client_id, site_id = uuid4(), uuid4()
    saved = [
        a_followup(client_id, site_id, status, days)
        for days, status in enumerate([Status.SCHEDULED, Status.DUE, Status.CANCELLED])
    ]
    done = FollowUp(
        **{
            **a_followup(client_id, site_id, Status.COMPLETED, 5).__dict__,
            "progress": Progress("a", None, "c"),
            "satisfaction": 4,
        }
    )
    for f in [*saved, done]:
        await store.save_followup(f)
    assert await store.followup(done.id) == done
    open_ones = await store.open_followups(client_id)
    assert [f.id for f in open_ones] == sorted(f.id for f in saved[:2])
    listed = await store.list_followups(client_id=client_id)
    assert [f.id for f in listed] == [f.id for f in [*saved, done]]
    assert [f.id for f in await store.list_followups(client_id=client_id, status=Status.DUE)] == [
        saved[1].id
    ]
    assert await store.list_followups(client_id=client_id, site_ids=[uuid4()]) == []


def unit_of_work_for(store: FollowupStore, streams: dict[str, list[NewEvent]]) -> UnitOfWork:
    if isinstance(store, PostgresFollowupStore):
        return UnitOfWork(store.conn, source="followup", clock=ControllableClock(NOW))
    return RecordingUnitOfWork(ControllableClock(NOW), streams)


async def stream_length(store: FollowupStore, streams: dict[str, list[NewEvent]], id_: Any) -> int:
    stream = followup.stream_id(id_)
    if isinstance(store, PostgresFollowupStore):
        return len(await read_stream(store.conn, stream))
    return len(streams.get(stream, []))


def planned_events(planned: FollowUp) -> list[NewEvent]:
    plan = followup.Plan(
        planned.id,
        planned.client_id,
        planned.site_id,
        planned.kind,
        planned.due_at,
        planned.goal_horizon,
        planned.session_id,
    )
    return [NewEvent(*followup.to_record(e)) for e in followup.decide(None, plan, NOW)]


async def test_a_new_follow_up_is_added_with_its_events_once(store: FollowupStore) -> None:
    streams: dict[str, list[NewEvent]] = {}
    planned = a_followup(uuid4(), uuid4(), Status.SCHEDULED, 3)
    stream = followup.stream_id(planned.id)

    added = await store.add_followup(
        unit_of_work_for(store, streams), stream, planned_events(planned), planned
    )
    again = await store.add_followup(
        unit_of_work_for(store, streams),
        stream,
        planned_events(planned),
        replace(planned, due_at=NOW + timedelta(days=9)),
    )

    assert (added, again) == (True, False)
    assert await store.followup(planned.id) == planned
    assert await stream_length(store, streams, planned.id) == 1


async def test_a_follow_up_with_a_row_is_not_added_even_without_events(
    store: FollowupStore,
) -> None:
    streams: dict[str, list[NewEvent]] = {}
    saved = a_followup(uuid4(), uuid4(), Status.SCHEDULED, 3)
    await store.save_followup(saved)

    added = await store.add_followup(
        unit_of_work_for(store, streams),
        followup.stream_id(saved.id),
        planned_events(saved),
        saved,
    )

    assert added is False
    assert await stream_length(store, streams, saved.id) == 0


async def test_appointments_read_back_with_the_offset_their_start_was_written_with(
    store: FollowupStore,
) -> None:
    """A reminder's id names the start as booking wrote it (`reminder_id` uses its isoformat):
    the row keeps that offset, not only the instant."""
    client_id, site_id = uuid4(), uuid4()
    seoul = timezone(timedelta(hours=9))

    def booked(start: datetime, status: AppointmentStatus = AppointmentStatus.BOOKED) -> Any:
        return Appointment(uuid4(), client_id, site_id, uuid4(), start, status, 1, uuid4())

    later = booked(datetime(2025, 6, 9, 10, 0, tzinfo=seoul))
    sooner = booked(datetime(2025, 6, 5, 15, 30, tzinfo=timezone(timedelta(hours=-4))))
    past = booked(NOW - timedelta(hours=1))
    cancelled = booked(NOW + timedelta(days=2), AppointmentStatus.CANCELLED)
    other = replace(booked(NOW + timedelta(days=1)), client_id=uuid4())
    for appointment in (later, sooner, past, cancelled, other):
        await store.save_appointment(appointment)

    assert await store.appointment(uuid4()) is None
    found = await store.appointment(later.appointment_id)
    assert found == later
    assert found is not None
    assert found.start.isoformat() == "2025-06-09T10:00:00+09:00"  # == alone compares instants
    ahead = await store.booked_appointments(client_id, NOW)
    assert ahead == [sooner, later]
    assert [a.start.isoformat() for a in ahead] == [
        "2025-06-05T15:30:00-04:00",
        "2025-06-09T10:00:00+09:00",
    ]
    moved = replace(later, start=later.start + timedelta(days=1), moved_by=uuid4(), version=2)
    await store.save_appointment(moved)
    assert await store.booked_appointments(client_id, NOW) == [sooner, moved]
