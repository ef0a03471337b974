"""The outbox relay: committed outbox rows → JetStream, marked only after the ack (DESIGN §2).

Woken by `LISTEN outbox` (so latency is milliseconds) with a poll as a safety net. One replica
drains at a time (a transaction-scoped advisory lock), so rows leave in outbox order; a row is
republished after a crash between ack and mark, and JetStream drops it by `Nats-Msg-Id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from counseling_shared.logs import get_logger
from counseling_shared.metrics import OUTBOX_BACKLOG, OUTBOX_LAG_SECONDS, OUTBOX_PUBLISHED
from counseling_shared.outbox import OUTBOX_CHANNEL
from counseling_shared.waiting import wait_for_wake
from counseling_shared.wakeups import listen_for_wakeups

if TYPE_CHECKING:
    from counseling_shared.db import Connection

log = get_logger(__name__)
_RELAY_LOCK = 0x72656C79  # "rely"


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        js: JetStreamContext,
        *,
        dsn: str,
        schema: str | None = None,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        publish_timeout: float = 5.0,
        retry_delay: float = 0.5,
    ) -> None:
        self._pool = pool
        self._js = js
        self._dsn = dsn
        self._schema = schema
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._publish_timeout = publish_timeout
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()
        self._backlog_counted_at = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_for_wakeups(
                self._dsn, self._schema, OUTBOX_CHANNEL, self._wake, retry_delay=self._retry_delay
            ),
            name="outbox-listen",
        )
        try:
            while True:
                try:
                    while await self.drain_once() == self._batch_size:
                        pass
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("outbox_drain_failed", error=repr(exc))
                    await asyncio.sleep(self._retry_delay)
                await wait_for_wake(self._wake, self._poll_interval)
                self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def drain_once(self) -> int:
        """Publish one batch; return how many rows were marked published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                """SELECT position, event_id, stream, subject, payload, headers, created_at
                   FROM outbox WHERE published_at IS NULL ORDER BY position LIMIT $1""",
                self._batch_size,
            )
            if not rows:
                OUTBOX_BACKLOG.set(0)
                OUTBOX_LAG_SECONDS.set(0)
                return 0
            OUTBOX_LAG_SECONDS.set((datetime.now(UTC) - rows[0]["created_at"]).total_seconds())
            acked = await self._publish(rows)
            await self._after_publish(acked)
            if acked:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])",
                    [r["position"] for r in rows[:acked]],
                )
                OUTBOX_PUBLISHED.inc(acked)
            await self._measure_backlog(conn, drained=len(rows) < self._batch_size)
        if acked < len(rows):
            await asyncio.sleep(self._retry_delay)
        return acked

    async def _publish(self, rows: list[asyncpg.Record]) -> int:
        """Publish rows pipelined; return the length of the acked prefix (keeps outbox order)."""
        futures: list[asyncio.Future[Any]] = []
        try:
            for row in rows:
                headers = {**row["headers"], "Nats-Msg-Id": str(row["event_id"])}
                # No `wait_stall`: with one, nats-py takes its pending-publish semaphore through
                # asyncio.wait_for, which yields on every message, so its flusher writes each
                # message in a syscall of its own (a sixth of the throughput). A batch stays far
                # below the 4000 pending publishes where the semaphore would make us wait.
                futures.append(
                    await self._js.publish_async(
                        row["subject"], row["payload"], stream=row["stream"], headers=headers
                    )
                )
        except (nats.errors.Error, OSError) as exc:
            log.warning("outbox_publish_failed", error=repr(exc))
        if futures:
            await asyncio.wait(futures, timeout=self._publish_timeout)
        acked, missing = 0, None
        for future in futures:
            if not future.done():
                missing = missing or "no ack in time"
            elif future.cancelled():
                missing = missing or "cancelled"
            elif (error := future.exception()) is not None:  # also marks it retrieved
                missing = missing or repr(error)
            elif missing is None:
                acked += 1
        if missing is not None:
            log.warning("outbox_ack_missing", error=missing, acked=acked, batch=len(futures))
        for future in futures[acked:]:
            future.cancel()
        return acked

    async def _measure_backlog(self, conn: Connection, *, drained: bool) -> None:
        # The count walks every unpublished row (and, until vacuum, the index entries of the
        # rows just marked): after every batch of a long drain it cost as much as the batch
        # itself, so a busy relay counts at most once a second.
        now = time.monotonic()
        if drained or now - self._backlog_counted_at >= 1.0:
            self._backlog_counted_at = now
            OUTBOX_BACKLOG.set(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            )

    async def _after_publish(self, acked: int) -> None:
        """Seam for fault tests: the moment between JetStream's ack and the mark."""
