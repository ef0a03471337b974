"""Durable timers: rows with a `due_at`, claimed with `FOR UPDATE SKIP LOCKED`
(docs/backbone.md, Timers).

The owning service keeps a table of timers; this loop claims the due ones in small batches, runs
the service's `fire` callback for each inside the normal write path (one transaction per timer,
so one bad timer cannot hold back the others), and sleeps until the next `due_at` or until a
`NOTIFY <channel>` says an earlier timer was added. Several replicas may run it at once.

It sleeps at most `max_sleep` while its LISTEN connection is down (an earlier timer added
meanwhile told nobody), and at most `listening_sleep` while it is up: then only a connection
that died without a word, or a timer moved without a NOTIFY, waits that long. A service with
several timer tables runs their schedulers on one LISTEN connection (`run_together`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from opentelemetry import context as otel_context

from counseling_shared.clock import Clock
from counseling_shared.inbox import BATCH_ERRORS, is_infrastructure_error
from counseling_shared.logs import get_logger
from counseling_shared.tracing import context_from_headers, tracer
from counseling_shared.unit_of_work import UnitOfWork
from counseling_shared.waiting import wait_for_wake
from counseling_shared.wakeups import ListenState, Wakeup, listen_on_channels

if TYPE_CHECKING:
    from counseling_shared.db import Connection
    from counseling_shared.service import Runtime

log = get_logger(__name__)

FireTimer = Callable[[UnitOfWork, asyncpg.Record], Awaitable[None]]
"""Handles one due row. It must move the row out of the due set (status or `due_at`).

The timer table needs `id` and `due_at` columns."""


async def notify_timer_added(
    conn: Connection, channel: str, due_at: datetime | None = None
) -> None:
    """Wake the schedulers when the transaction that added or moved a timer commits.

    With `due_at` in the payload, a scheduler already set to wake before it stays asleep:
    a check-in planned a week ahead no longer costs every scheduler a round of look-ups."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, timer_payload(due_at))


def timer_payload(due_at: datetime | None) -> str:
    """The wake-up's payload: the timer's due time (empty: look now). For a statement that
    sends its NOTIFY itself, with the row it writes, instead of calling `notify_timer_added`."""
    return due_at.isoformat() if due_at is not None else ""


def _due_of(payload: str) -> datetime | None:
    try:
        due = datetime.fromisoformat(payload) if payload else None
    except ValueError:
        return None
    return due if due is not None and due.tzinfo is not None else None


def claim_statement(table: str, due_condition: str) -> str:
    """The claim of one due timer: `$1` is now, `$2` the ids to pass over (backing off)."""
    return f"""SELECT * FROM {table}
               WHERE {due_condition} AND due_at <= $1 AND NOT (id = ANY($2))
               ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED"""


class DueScheduler:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        dsn: str,
        schema: str | None,
        source: str,
        clock: Clock,
        table: str,
        channel: str,
        fire: FireTimer,
        due_condition: str = "status = 'scheduled'",
        batch_size: int = 20,
        max_sleep: float = 1.0,
        listening_sleep: float = 10.0,
        retry_delay: float = 1.0,
        failure_backoff: float = 30.0,
        locked_retry: float = 0.05,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._source = source
        self._clock = clock
        self._table = table
        self._channel = channel
        self._fire = fire
        self._due = due_condition
        self._batch_size = batch_size
        self._max_sleep = max_sleep
        self._listening_sleep = listening_sleep
        self._listen = ListenState()
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._tracer = tracer(f"{source}.scheduler")
        self._failure_backoff = timedelta(seconds=failure_backoff)
        self._backoff: dict[Any, datetime] = {}
        self._locked_retry = locked_retry
        self._locked_rounds = 0
        self._asleep_until: datetime | None = None  # None while awake: every NOTIFY counts

    def wake(self) -> None:
        self._wake.set()

    @classmethod
    def of_runtime(
        cls,
        runtime: Runtime,
        *,
        table: str,
        channel: str,
        fire: FireTimer,
        due_condition: str = "status = 'scheduled'",
        **options: Any,
    ) -> DueScheduler:
        """A scheduler over one of the service's timer tables, on its pool, clock and database."""
        settings = runtime.settings
        return cls(
            pool=runtime.db(),
            dsn=settings.database_url,
            schema=settings.database_schema,
            source=runtime.name,
            clock=runtime.clock,
            table=table,
            channel=channel,
            fire=fire,
            due_condition=due_condition,
            **({"listening_sleep": settings.listening_poll} | options),
        )

    async def run(self) -> None:
        await run_together(self)

    async def _loop(self) -> None:
        while True:
            try:
                while await self.fire_due() == self._batch_size:
                    pass
                sleep = self._not_before_locked(await self._seconds_until_next())
            except BATCH_ERRORS as exc:
                log.warning("scheduler_failed", table=self._table, error=repr(exc))
                sleep = self._retry_delay
            self._asleep_until = self._clock.now() + timedelta(seconds=max(sleep, 0.0))
            await wait_for_wake(self._wake, sleep)
            self._asleep_until = None
            self._wake.clear()

    def _wakes_sooner(self, payload: str) -> bool:
        """Whether a NOTIFY's timer (its due time in the payload) is due before this
        scheduler wakes anyway; one without a readable due time always wakes it."""
        due, asleep_until = _due_of(payload), self._asleep_until
        return due is None or asleep_until is None or due <= asleep_until

    async def fire_due(self) -> int:
        """Fire up to one batch of due timers; return how many fired."""
        fired = 0
        now = self._clock.now()
        self._backoff = {k: v for k, v in self._backoff.items() if v > now}
        for _ in range(self._batch_size):
            row_id = None
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    row = await conn.fetchrow(
                        claim_statement(self._table, self._due),
                        self._clock.now(),
                        list(self._backoff),
                    )
                    if row is None:
                        return fired
                    row_id = row["id"]
                    uow = UnitOfWork(conn, source=self._source, clock=self._clock)
                    with self._tracer.start_as_current_span(
                        f"fire {self._table}",
                        context=_trace_parent(row),
                        attributes={"timer.table": self._table, "timer.id": str(row_id)},
                    ):
                        await self._fire(uow, row)
                        # Inside the span: the outbox rows take the current trace's headers.
                        await uow.flush()
            except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError):
                raise
            except Exception as exc:
                # The database or NATS went away (a restart: ConnectionDoesNotExistError,
                # AdminShutdownError, CannotConnectNowError…): the timer is not at fault, so
                # the loop retries it with the others instead of backing it off.
                if row_id is None or is_infrastructure_error(exc):
                    raise
                # One failing timer must not hold back the others: retry it a bit later.
                log.exception("timer_failed", table=self._table, id=str(row_id), error=repr(exc))
                self._backoff[row_id] = self._clock.now() + self._failure_backoff
                continue
            fired += 1
        return fired

    def _not_before_locked(self, sleep: float) -> float:
        """A timer due now that `fire_due` could not claim is locked by another transaction
        (another replica firing it, or a long write): wait with a growing back-off instead of
        spinning until that transaction ends."""
        if sleep > 0:
            self._locked_rounds = 0
            return sleep
        self._locked_rounds += 1
        backoff: float = self._locked_retry * 2.0 ** (self._locked_rounds - 1)
        return min(backoff, self._max_sleep)

    async def next_due_at(self) -> datetime | None:
        due: datetime | None = await self._pool.fetchval(
            f"SELECT min(due_at) FROM {self._table} WHERE {self._due}"
        )
        return due

    async def _seconds_until_next(self) -> float:
        # A timer waiting out its failure backoff is due again when the backoff ends, not at
        # its (past) `due_at`: counting that one would make the loop spin without sleeping.
        due: datetime | None = await self._pool.fetchval(
            f"SELECT min(due_at) FROM {self._table} WHERE {self._due} AND NOT (id = ANY($1))",
            list(self._backoff),
        )
        wake_at = min((d for d in (due, *self._backoff.values()) if d is not None), default=None)
        longest = self._listen.poll(self._max_sleep, self._listening_sleep)
        if wake_at is None:
            return longest
        return min((wake_at - self._clock.now()).total_seconds(), longest)


async def run_together(first: DueScheduler, *others: DueScheduler) -> None:
    """Run the schedulers of one service's timer tables (on one database) on one LISTEN
    connection: a table more costs no connection more. Each NOTIFY wakes its channel's."""
    schedulers = (first, *others)
    state = ListenState()
    for scheduler in schedulers:
        scheduler._listen = state
    listener = asyncio.create_task(
        listen_on_channels(
            first._dsn,
            first._schema,
            {s._channel: Wakeup(s._wake, s._wakes_sooner) for s in schedulers},
            retry_delay=first._retry_delay,
            state=state,
        ),
        name=f"{first._table}-listen",
    )
    try:
        if not others:
            await first._loop()  # its errors as they are, not in an ExceptionGroup
        else:
            async with asyncio.TaskGroup() as loops:
                for scheduler in schedulers:
                    loops.create_task(scheduler._loop(), name=f"{scheduler._table}-timers")
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


def _trace_parent(row: asyncpg.Record) -> otel_context.Context | None:
    """A timer row may keep the trace that scheduled it (`trace_headers` jsonb): the events it
    fires then continue that trace instead of starting a new one."""
    headers = row.get("trace_headers")
    return context_from_headers(headers) if headers else None
