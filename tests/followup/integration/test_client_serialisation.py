"""One client's read-modify-writes are serialised on real PostgreSQL: a pause racing a completed
session, or a completed check-in, is never lost (READ COMMITTED, two connections)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import Channel, FollowUpOutcome, GoalHorizon, Intensity, RiskLevel
from counseling_shared.db import connect, create_pool
from counseling_shared.events import ClientRegistered, SessionCompleted
from counseling_shared.migrations import apply_migrations
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.application import booking_events, commands
from followup.application.ports import ClientBusy
from followup.application.timers import follow_up_falls_due
from followup.bootstrap import MIGRATIONS
from followup.domain.errors import FollowUpAlreadyClosed
from followup.domain.followup import Complete, Status
from followup.domain.preferences import FollowUpPreferences

pytestmark = pytest.mark.integration
START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
PAUSED = FollowUpPreferences(Channel.EMAIL, Intensity.PAUSED)
Work = Callable[[UnitOfWork, PostgresFollowupStore], Awaitable[Any]]


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, MIGRATIONS)
    finally:
        await conn.close()
    db = await create_pool(database_url, min_size=2, max_size=4)
    yield db
    await db.close()


class Tx:
    """One transaction on its own connection, held open until `commit`."""

    def __init__(self, pool: asyncpg.Pool[Any], clock: ControllableClock) -> None:
        self.pool = pool
        self.clock = clock

    async def __aenter__(self) -> Tx:
        self.conn = await self.pool.acquire()
        self.tx = self.conn.transaction()
        await self.tx.start()
        self.uow = UnitOfWork(self.conn, source="followup", clock=self.clock)
        self.store = PostgresFollowupStore(self.conn)
        return self

    async def run(self, work: Work) -> Any:
        return await work(self.uow, self.store)

    async def commit(self) -> None:
        await self.uow.flush()
        await self.tx.commit()

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            await self.tx.rollback()
        await self.pool.release(self.conn)

    async def pid(self) -> int:
        return self.conn.get_server_pid()


async def in_tx(pool: asyncpg.Pool[Any], clock: ControllableClock, work: Work) -> Any:
    async with Tx(pool, clock) as tx:
        result = await tx.run(work)
        await tx.commit()
        return result


async def until_waiting_on_a_lock(pool: asyncpg.Pool[Any], pid: int) -> None:
    for _ in range(500):
        waiting = await pool.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction never waited for the client's lock")


def session(client_id: UUID, site_id: UUID, completed_at: datetime) -> Work:
    event = SessionCompleted(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=client_id,
        counselor_id=uuid4(),
        completed_at=completed_at,
        goal_horizon=GoalHorizon.SHORT_TERM,
        risk_level=RiskLevel.NONE,
    )
    return lambda uow, store: booking_events.session_completed(uow, store, event)


def pause(client_id: UUID) -> Work:
    return lambda uow, store: commands.set_preferences(
        uow, store, client_id, PAUSED, lambda _site: None
    )


async def a_client_in_care(pool: asyncpg.Pool[Any], clock: ControllableClock) -> tuple[UUID, UUID]:
    client_id, site_id = uuid4(), uuid4()
    registered = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale="fr",
        timezone="Europe/Paris",
        preferred_channel=Channel.EMAIL,
    )
    await in_tx(
        pool, clock, lambda uow, store: booking_events.client_registered(uow, store, registered)
    )
    await in_tx(pool, clock, session(client_id, site_id, START))
    return client_id, site_id


async def stays_paused(pool: asyncpg.Pool[Any], client_id: UUID) -> None:
    async with pool.acquire() as conn:
        store = PostgresFollowupStore(conn)
        client = await store.client(client_id)
        assert client is not None
        assert client.preferences.intensity is Intensity.PAUSED
        scheduled = await store.list_followups(client_id=client_id, status=Status.SCHEDULED)
        assert scheduled == [], "a paused client has a check-in planned"


async def test_a_session_completed_while_a_pause_commits_keeps_the_pause(
    pool: asyncpg.Pool[Any],
) -> None:
    """The pause holds the client's lock; the session event waits for it, then must see it."""
    clock = ControllableClock(START + timedelta(hours=2))
    for attempt in range(10):
        client_id, site_id = await a_client_in_care(pool, clock)
        async with Tx(pool, clock) as pausing:
            await pausing.run(pause(client_id))
            completed = START + timedelta(hours=1, minutes=attempt)
            racing = asyncio.create_task(in_tx(pool, clock, session(client_id, site_id, completed)))
            # The racing transaction's pid is not known here: wait for any lock waiter.
            for _ in range(500):
                if await pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the session event never waited for the client's lock")
            await pausing.commit()
        await racing
        await stays_paused(pool, client_id)


async def test_a_pause_and_a_completed_session_racing_freely_never_lose_the_pause(
    pool: asyncpg.Pool[Any],
) -> None:
    clock = ControllableClock(START + timedelta(hours=2))
    for attempt in range(15):
        client_id, site_id = await a_client_in_care(pool, clock)
        completed = START + timedelta(hours=1, minutes=attempt)
        await asyncio.gather(
            in_tx(pool, clock, pause(client_id)),
            in_tx(pool, clock, session(client_id, site_id, completed)),
        )
        await stays_paused(pool, client_id)


async def test_a_check_in_completed_while_a_pause_commits_plans_nothing_after_it(
    pool: asyncpg.Pool[Any],
) -> None:
    """Completing a check-in early continues its series, unless the client paused meanwhile."""
    clock = ControllableClock(START + timedelta(hours=2))
    for _ in range(5):
        client_id, _site_id = await a_client_in_care(pool, clock)
        async with pool.acquire() as conn:
            [checkin] = await PostgresFollowupStore(conn).list_followups(
                client_id=client_id, status=Status.SCHEDULED
            )
        async with Tx(pool, clock) as pausing:
            await pausing.run(pause(client_id))
            completing = asyncio.create_task(in_tx(pool, clock, complete(checkin.id)))
            await asyncio.sleep(0.2)
            await pausing.commit()
        # The pause withdrew the check-in first: the completion, which waited for the client,
        # then finds it closed, and nothing is planned after it.
        with pytest.raises(FollowUpAlreadyClosed):
            await completing
        await stays_paused(pool, client_id)


async def test_a_pause_while_a_check_in_is_being_completed_withdraws_the_next_one(
    pool: asyncpg.Pool[Any],
) -> None:
    """The completion holds the client's lock and plans the next check-in; the pause waits for
    it, then sees (and withdraws) that check-in."""
    clock = ControllableClock(START + timedelta(hours=2))
    for _ in range(5):
        client_id, _site_id = await a_client_in_care(pool, clock)
        async with pool.acquire() as conn:
            [checkin] = await PostgresFollowupStore(conn).list_followups(
                client_id=client_id, status=Status.SCHEDULED
            )
        async with Tx(pool, clock) as completing:
            await completing.run(complete(checkin.id))
            pausing = asyncio.create_task(in_tx(pool, clock, pause(client_id)))
            await asyncio.sleep(0.2)
            await completing.commit()
        await pausing
        await stays_paused(pool, client_id)


def complete(followup_id: UUID) -> Work:
    command = Complete(FollowUpOutcome.REACHED)
    return lambda uow, store: commands.complete_followup(
        uow, store, followup_id, command, lambda _site: None
    )


async def test_a_follow_up_falling_due_gives_way_to_a_client_being_changed(
    pool: asyncpg.Pool[Any],
) -> None:
    """The timer holds the follow-up's lock; a pause holds the client's and waits for the
    follow-up: the timer must give way (no deadlock), and the pause must withdraw the check-in."""
    clock = ControllableClock(START + timedelta(days=30))
    client_id, _site_id = await a_client_in_care(pool, clock)
    async with Tx(pool, clock) as pausing, Tx(pool, clock) as timer:
        await pausing.store.client(client_id, for_update=True)
        [checkin] = await timer.store.list_followups(client_id=client_id, status=Status.SCHEDULED)
        locked = await timer.store.followup(checkin.id, for_update=True)
        assert locked is not None
        pausing_task = asyncio.create_task(pausing.run(pause(client_id)))
        await until_waiting_on_a_lock(pool, await pausing.pid())
        with pytest.raises(ClientBusy):
            await timer.run(lambda uow, store: follow_up_falls_due(uow, store, locked))
        await timer.tx.rollback()
        await pausing_task
        await pausing.commit()
    await stays_paused(pool, client_id)
