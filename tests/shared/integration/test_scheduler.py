"""Durable timers: fired on time, exactly once across replicas, woken by NOTIFY, never stuck."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.scheduler import DueScheduler, notify_timer_added, run_together
from counseling_shared.tracing import (
    configure_tracing,
    current_trace_headers,
    current_trace_id,
    tracer,
)
from counseling_shared.unit_of_work import UnitOfWork
from tests.shared.integration.support import eventually

pytestmark = pytest.mark.integration


class Reminders:
    """One test's timers (its own `batch` and NOTIFY channel) and the schedulers that fire them."""

    def __init__(self, pool: asyncpg.Pool[Any], url: str) -> None:
        self.pool = pool
        self.url = url
        self.batch = uuid4()
        self.channel = f"reminders_{self.batch.hex[:8]}"

    def scheduler(self, name: str = "a", **options: Any) -> DueScheduler:
        async def fire(uow: UnitOfWork, row: asyncpg.Record) -> None:
            if row["broken"]:
                raise RuntimeError("this reminder cannot be sent yet")
            await asyncio.sleep(0.005)  # a little work, so replicas overlap
            await uow.conn.execute("UPDATE reminders SET status = 'fired' WHERE id = $1", row["id"])
            await uow.conn.execute(
                "INSERT INTO reminder_firings (reminder_id, scheduler) VALUES ($1, $2)",
                row["id"],
                name,
            )

        return DueScheduler(
            pool=self.pool,
            dsn=self.url,
            schema=None,
            source="probe",
            clock=SystemClock(),
            table="reminders",
            channel=self.channel,
            fire=fire,
            due_condition=f"status = 'scheduled' AND batch = '{self.batch}'",
            **options,
        )

    async def add(self, due_at: datetime, *, broken: bool = False, notify: bool = True) -> UUID:
        reminder_id = uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO reminders (id, batch, due_at, broken) VALUES ($1, $2, $3, $4)",
                reminder_id,
                self.batch,
                due_at,
                broken,
            )
            if notify:
                await notify_timer_added(conn, self.channel, due_at)
        return reminder_id

    async def firings(self) -> dict[UUID, list[datetime]]:
        rows = await self.pool.fetch(
            """SELECT f.reminder_id, f.fired_at FROM reminder_firings f
               JOIN reminders r ON r.id = f.reminder_id WHERE r.batch = $1""",
            self.batch,
        )
        fired: dict[UUID, list[datetime]] = {}
        for row in rows:
            fired.setdefault(row["reminder_id"], []).append(row["fired_at"])
        return fired

    async def listening(self) -> bool:
        found: bool = await self.pool.fetchval(
            """SELECT count(*) > 0 FROM pg_stat_activity
               WHERE datname = current_database() AND query = $1""",
            f'LISTEN "{self.channel}"',
        )
        return found


@pytest.fixture
def reminders(pool: asyncpg.Pool[Any], migrated_url: str) -> Reminders:
    return Reminders(pool, migrated_url)


@contextlib.asynccontextmanager
async def running(*schedulers: DueScheduler) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5.0)


def count_passes(scheduler: DueScheduler) -> Callable[[], int]:
    """Count the scheduler's passes over its due timers; the function returned reads the count."""
    passes = 0
    fire_due = scheduler.fire_due

    async def counted() -> int:
        nonlocal passes
        passes += 1
        return await fire_due()

    scheduler.fire_due = counted  # type: ignore[method-assign]
    return lambda: passes


def now() -> datetime:
    return datetime.now(UTC)


async def test_a_timer_fires_once_within_a_second_of_its_due_time(reminders: Reminders) -> None:
    async with running(reminders.scheduler(max_sleep=30.0)):
        await eventually(reminders.listening)
        due_at = now() + timedelta(seconds=1.0)
        reminder = await reminders.add(due_at)
        fired = await eventually(reminders.firings, timeout=5.0)
        await asyncio.sleep(0.3)  # room for a second firing, if there were to be one
        fired = await reminders.firings()

    [fired_at] = fired[reminder]
    assert due_at <= fired_at < due_at + timedelta(seconds=1.0)


async def test_two_schedulers_fire_each_due_timer_exactly_once(reminders: Reminders) -> None:
    due = [await reminders.add(now() - timedelta(seconds=1), notify=False) for _ in range(40)]

    async with running(
        reminders.scheduler("a", batch_size=5), reminders.scheduler("b", batch_size=5)
    ):
        await eventually(lambda: _all_fired(reminders, due), timeout=10.0)
        await asyncio.sleep(0.2)
        fired = await reminders.firings()

    assert {r: len(times) for r, times in fired.items()} == dict.fromkeys(due, 1)


async def test_an_earlier_timer_wakes_a_sleeping_scheduler(reminders: Reminders) -> None:
    later = await reminders.add(now() + timedelta(hours=1))
    async with running(reminders.scheduler(max_sleep=30.0)):
        await eventually(reminders.listening)
        await asyncio.sleep(0.3)  # asleep now, until the later timer or 30 s
        added = now()
        earlier = await reminders.add(added)
        fired = await eventually(reminders.firings, timeout=3.0)

    assert list(fired) == [earlier]
    assert fired[earlier][0] - added < timedelta(seconds=1)
    assert later not in fired


async def test_two_tables_share_one_listen_connection_and_each_notify_wakes_its_scheduler(
    pool: asyncpg.Pool[Any], migrated_url: str
) -> None:
    holds, offers = Reminders(pool, migrated_url), Reminders(pool, migrated_url)
    together = asyncio.create_task(
        run_together(holds.scheduler(max_sleep=30.0), offers.scheduler(max_sleep=30.0))
    )
    try:
        await eventually(offers.listening)  # the last LISTEN of the shared connection
        listeners = await pool.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND query = ANY($1)""",
            [f'LISTEN "{holds.channel}"', f'LISTEN "{offers.channel}"'],
        )
        assert listeners == 1
        await asyncio.sleep(0.3)  # both asleep now, for up to LISTENING_POLL (10 s)
        added = now()
        first = await holds.add(added)
        fired = await eventually(holds.firings, timeout=3.0)
        second = await offers.add(now())
        fired_too = await eventually(offers.firings, timeout=3.0)
    finally:
        together.cancel()
        await asyncio.wait([together], timeout=5.0)

    assert list(fired) == [first]
    assert fired[first][0] - added < timedelta(seconds=1)
    assert list(fired_too) == [second]


async def test_timers_due_after_the_scheduler_wakes_anyway_leave_it_asleep(
    reminders: Reminders,
) -> None:
    scheduler = reminders.scheduler(max_sleep=30.0)
    passes = count_passes(scheduler)
    async with running(scheduler):
        await eventually(reminders.listening)
        await asyncio.sleep(0.3)  # asleep now, for 30 s
        asleep = passes()
        for _ in range(5):  # a week ahead, as a planned check-in is
            await reminders.add(now() + timedelta(days=7))
        await asyncio.sleep(0.5)
        after_far = passes()
        soon = await reminders.add(now())
        fired = await eventually(reminders.firings, timeout=3.0)

    assert after_far == asleep, f"{after_far - asleep} passes for timers due in a week"
    assert list(fired) == [soon]


async def test_a_failing_timer_does_not_hold_back_the_others_and_is_retried(
    reminders: Reminders,
) -> None:
    broken = await reminders.add(now() - timedelta(minutes=1), broken=True)
    good = [await reminders.add(now() - timedelta(seconds=30 - i)) for i in range(3)]

    async with running(reminders.scheduler(failure_backoff=0.5)):
        await eventually(lambda: _all_fired(reminders, good), timeout=5.0)
        assert broken not in await reminders.firings()
        await reminders.pool.execute("UPDATE reminders SET broken = false WHERE id = $1", broken)
        await eventually(lambda: _all_fired(reminders, [broken]), timeout=5.0)


async def test_a_failed_timer_waiting_out_its_backoff_does_not_spin_the_scheduler(
    reminders: Reminders,
) -> None:
    scheduler = reminders.scheduler(failure_backoff=30.0, max_sleep=1.0)
    passes = count_passes(scheduler)
    await reminders.add(now() - timedelta(seconds=1), broken=True)

    async with running(scheduler):
        await asyncio.sleep(1.5)

    # Asleep until the backoff ends (or max_sleep): a couple of passes, not thousands.
    assert passes() <= 5, f"{passes()} passes in 1.5 s"


async def test_a_due_timer_locked_by_another_transaction_does_not_spin_the_scheduler(
    reminders: Reminders,
) -> None:
    scheduler = reminders.scheduler(max_sleep=1.0)
    passes = count_passes(scheduler)
    reminder = await reminders.add(now() - timedelta(seconds=1))

    async with reminders.pool.acquire() as holder, holder.transaction():
        # Another replica (or a long write) holds the due row: SKIP LOCKED finds nothing.
        await holder.execute("SELECT 1 FROM reminders WHERE id = $1 FOR UPDATE", reminder)
        async with running(scheduler):
            await asyncio.sleep(2.0)
            held = passes()
    async with running(scheduler):
        await eventually(reminders.firings, timeout=5.0)

    # Backing off while the row is locked: a handful of passes in 2 s, not thousands.
    assert held <= 12, f"{held} passes in 2 s while the due row was locked"


async def test_a_scheduler_stops_when_cancelled_just_as_it_is_woken(reminders: Reminders) -> None:
    scheduler = reminders.scheduler(max_sleep=30.0)
    task = asyncio.create_task(scheduler.run())
    try:
        await eventually(reminders.listening)
        await asyncio.sleep(0.2)
        scheduler.wake()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3.0)
        assert task in done, "the scheduler ignored its cancellation"
    finally:
        task.cancel()


async def _all_fired(reminders: Reminders, ids: list[UUID]) -> bool:
    fired = await reminders.firings()
    return all(i in fired for i in ids)


async def test_a_fired_timer_continues_the_trace_that_scheduled_it(reminders: Reminders) -> None:
    configure_tracing("probe", None)
    seen: dict[UUID, str | None] = {}

    async def fire(uow: UnitOfWork, row: asyncpg.Record) -> None:
        seen[row["id"]] = current_trace_id()
        await uow.conn.execute("UPDATE reminders SET status = 'fired' WHERE id = $1", row["id"])

    scheduler = reminders.scheduler()
    scheduler._fire = fire
    with tracer("test").start_as_current_span("plan a check-in"):
        planning_trace = current_trace_id()
        headers = current_trace_headers()
    traced, untraced = await reminders.add(now(), notify=False), await reminders.add(now())
    await reminders.pool.execute(
        "UPDATE reminders SET trace_headers = $2 WHERE id = $1", traced, headers
    )

    assert await scheduler.fire_due() == 2
    assert seen[traced] == planning_trace
    assert seen[untraced] is not None  # a trace of its own, from the firing span
    assert seen[untraced] != planning_trace


NOBODY_LISTENS = "postgresql://nobody@127.0.0.1:1/nothing"  # the LISTEN never connects


async def test_a_scheduler_whose_listen_is_down_looks_at_its_short_interval(
    reminders: Reminders,
) -> None:
    reminders.url = NOBODY_LISTENS  # its pool works; its NOTIFYs reach nobody
    async with running(reminders.scheduler(max_sleep=0.2, listening_sleep=60.0)):
        await asyncio.sleep(0.5)
        added = now()
        reminder = await reminders.add(added)
        fired = await eventually(reminders.firings, timeout=5.0)

    assert fired[reminder][0] - added < timedelta(seconds=2.0)


async def test_a_listening_scheduler_sleeps_long_between_looks_and_wakes_on_time(
    reminders: Reminders,
) -> None:
    scheduler = reminders.scheduler(max_sleep=0.1, listening_sleep=60.0)
    passes = count_passes(scheduler)
    async with running(scheduler):
        await eventually(reminders.listening)
        await asyncio.sleep(0.3)
        asleep = passes()
        await asyncio.sleep(1.5)
        idle_passes = passes() - asleep
        due_at = now() + timedelta(seconds=1.0)
        reminder = await reminders.add(due_at)  # its NOTIFY carries the due time
        fired = await eventually(reminders.firings, timeout=5.0)

    assert idle_passes == 0, f"{idle_passes} passes in 1.5 s with nothing due"
    assert due_at <= fired[reminder][0] < due_at + timedelta(seconds=1.0)


@pytest.mark.parametrize(
    "lost",
    [
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.AdminShutdownError,
        asyncpg.CannotConnectNowError,
    ],
)
async def test_a_timer_firing_as_the_database_restarts_is_retried_without_its_backoff(
    reminders: Reminders, lost: type[Exception]
) -> None:
    # The database went away under the fire, not the timer's fault: backed off, a follow-up
    # waited 30 s (crisis's escalation 5 s) after a restart, with a traceback logged.
    scheduler = reminders.scheduler(failure_backoff=30.0, retry_delay=0.1)
    fire, failed = scheduler._fire, 0

    async def fire_losing_the_database_once(uow: UnitOfWork, row: asyncpg.Record) -> None:
        nonlocal failed
        if not failed:
            failed += 1
            raise lost("the server restarted")
        await fire(uow, row)

    scheduler._fire = fire_losing_the_database_once
    reminder = await reminders.add(now() - timedelta(seconds=1))
    async with running(scheduler):
        await eventually(lambda: _all_fired(reminders, [reminder]), timeout=5.0)
    assert failed == 1
