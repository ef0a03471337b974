"""The delivery worker pool of one lane.

Each worker claims the lane's most overdue pending message (`FOR UPDATE SKIP LOCKED`, then a
lease in `claimed_until`), delivers it outside any transaction, and records the outcome. Idle
workers sleep until the next message falls due or a `NOTIFY notifications_<lane>` from the
transaction that queued one; a NOTIFY wakes one idle worker, and a worker that claimed a
message wakes the next (`WakeOne`), so a single message costs one claim, not one per worker.
Of the idle workers only one looks by time (`WakeOne.poll_or_wait`): every `idle_poll` while
the lane's LISTEN connection is down, at most every `listening_poll` while it is up (a message
due by time, a retry, a dead replica's lease, and the next due time is looked up each time).
A worker that dies leaves its lease to expire; the message is then claimed again (and may be
sent twice, with the same Message-ID / idempotency key).

The bulk lane's workers claim up to `claim_size` messages at a time (one claim statement, one
directory request, one statement for the outcomes), each with its own lease, and send them in
turn; before each send after the first they check that no page is in flight and that the
leases have more than half their time left, else they give the rest back at once (and record
what they sent once the page is out).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.codes import NotificationChannel
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.wakeups import ListenState, WakeOne, listen_for_wakeups
from notify.adapters import notification_store
from notify.application.delivery import Courier
from notify.domain.codes import Lane
from notify.domain.notification import Notification
from notify.entrypoints.page_priority import PagesFirst

log = get_logger(__name__)

_DB_ERRORS = DATABASE_ERRORS


class LaneWorkers:
    def __init__(
        self,
        *,
        lane: Lane,
        size: int,
        pool: asyncpg.Pool[Any],
        dsn: str,
        schema: str | None,
        clock: Clock,
        courier: Courier,
        lease: timedelta,
        idle_poll: float = 1.0,
        listening_poll: float = 10.0,
        retry_delay: float = 1.0,
        locked_retry: float = 0.05,
        channels: Collection[NotificationChannel] | None = None,
        pages: PagesFirst | None = None,
        claim_size: int = 1,
    ) -> None:
        self.lane = lane
        self.channels = frozenset(channels) if channels is not None else None
        self._size = size
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._clock = clock
        self._courier = courier
        self._lease = lease
        self._idle_poll = idle_poll
        self._listening_poll = listening_poll
        self._listen = ListenState()
        self._retry_delay = retry_delay
        self._locked_retry = locked_retry
        self._wake = WakeOne()
        # The crisis lane marks its deliveries; the bulk lane waits for them before claiming.
        self._pages = pages
        self._claim_size = claim_size

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(
                listen_for_wakeups(
                    self._dsn,
                    self._schema,
                    notification_store.wake_channel(self.lane),
                    self._wake,
                    retry_delay=self._retry_delay,
                    state=self._listen,
                ),
                name=f"{self.lane}-listen",
            )
        ]
        tasks += [
            asyncio.create_task(self._work(), name=f"{self.lane}-worker-{n}")
            for n in range(self._size)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            # A second cancel would interrupt a worker giving its message back.
            for task in tasks:
                if not task.done() and not task.cancelling():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        locked_rounds = 0
        while True:
            if self._pages is not None and self.lane is Lane.BULK:
                await self._pages.wait_for_pages()
            try:
                batch = await self.claim_batch()
            except _DB_ERRORS as exc:
                log.warning("notification_claim_failed", lane=self.lane.value, error=repr(exc))
                await asyncio.sleep(self._retry_delay)
                continue
            if not batch:
                locked_rounds = await self._idle(locked_rounds)
                continue
            locked_rounds = 0
            self._wake.set()  # there may be more: draw in one more idle worker
            if self._claim_size > 1:
                await self._deliver_batch(batch)
                continue
            [(notification, trace_headers, facts)] = batch
            try:
                with self._page_in_flight():
                    await self._courier.deliver(notification, trace_headers, facts)
            except asyncio.CancelledError:
                await self._give_back(notification)
                raise
            except Exception as exc:
                log.exception(
                    "delivery_crashed", notification_id=str(notification.id), error=repr(exc)
                )
                # A failed delivery gives its message back at once: recorded as a transient
                # failure (it is retried after its back-off, and counts as an attempt), or, when
                # even that cannot be written, released for the next worker.
                if not await self._record_crash(notification):
                    await self._give_back(notification)
                await asyncio.sleep(self._retry_delay)

    async def _deliver_batch(self, batch: list[notification_store.Claimed]) -> None:
        # Past half the lease, the rest goes back: no lease runs out while its message waits.
        give_up_at = self._clock.now() + self._lease / 2

        def go_on() -> bool:
            paged = self._pages is not None and self._pages.in_flight > 0
            return not paged and self._clock.now() < give_up_at

        async def stopped(rest: list[notification_store.Claimed]) -> None:
            # The rest goes back at once; what was sent is recorded once the page is out.
            await self._give_back(*(c.notification for c in rest))
            if self._pages is not None:
                await self._pages.wait_for_pages()

        try:
            await self._courier.deliver_batch(batch, go_on, stopped)
        except asyncio.CancelledError:
            await self._give_back(*(c.notification for c in batch))
            raise
        except Exception as exc:
            # Recording failed (or the directory raised unexpectedly): the leases are given
            # back, so the messages go again soon (same Message-ID / idempotency key).
            log.exception("delivery_batch_crashed", lane=self.lane.value, error=repr(exc))
            await self._give_back(*(c.notification for c in batch))
            await asyncio.sleep(self._retry_delay)

    def _page_in_flight(self) -> contextlib.AbstractContextManager[None]:
        if self._pages is not None and self.lane is Lane.CRISIS:
            return self._pages.delivering()
        return contextlib.nullcontext()

    async def claim(self) -> notification_store.Claimed | None:
        batch = await self._claim(1)
        return batch[0] if batch else None

    async def claim_batch(self) -> list[notification_store.Claimed]:
        return await self._claim(self._claim_size)

    async def _claim(self, most: int) -> list[notification_store.Claimed]:
        now = self._clock.now()
        # One statement, so no explicit transaction: its row locks last the statement, and
        # BEGIN and COMMIT were two of the claim's three round trips.
        async with self._pool.acquire() as conn:
            return await notification_store.claim_many(
                conn, self.lane, now, now + self._lease, self.channels, most
            )

    async def _idle(self, locked_rounds: int) -> int:
        """Sleep until the next message falls due (or a NOTIFY); return the new count of
        rounds in a row that found a message due now but could not claim it."""
        sleep = self._listen.poll(self._idle_poll, self._listening_poll)
        with contextlib.suppress(*_DB_ERRORS):
            async with self._pool.acquire() as conn:
                due = await notification_store.next_due_at(conn, self.lane, self.channels)
            if due is not None:
                sleep = min((due - self._clock.now()).total_seconds(), sleep)
        if sleep <= 0:
            # Due now, yet `claim` found nothing: another transaction holds that row (SKIP
            # LOCKED). Back off, doubling, instead of spinning until it lets go.
            locked_rounds += 1
            sleep = min(self._locked_retry * 2.0 ** (locked_rounds - 1), self._idle_poll)
        else:
            locked_rounds = 0
        await self._wake.poll_or_wait(sleep)
        return locked_rounds

    async def _record_crash(self, notification: Notification) -> bool:
        try:
            await self._courier.record_crash(notification)
        except Exception as exc:
            log.warning(
                "delivery_crash_not_recorded",
                notification_id=str(notification.id),
                error=repr(exc),
            )
            return False
        return True

    async def _give_back(self, *notifications: Notification) -> None:
        """Stopping mid-delivery (or a page arrived mid-batch): let the next worker take them
        at once instead of after the lease. Best effort; the lease covers a failure here."""

        async def release() -> None:
            async with asyncio.timeout(2.0), self._pool.acquire() as conn:
                await notification_store.release_many(conn, [n.id for n in notifications])

        with contextlib.suppress(Exception):
            await asyncio.shield(release())
