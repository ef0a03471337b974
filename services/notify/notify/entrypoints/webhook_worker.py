"""The webhook delivery loop: durable timers in `webhook_deliveries.next_attempt_at`.

Each round claims the due head delivery of up to `concurrency` subscriptions (`FOR UPDATE SKIP
LOCKED`, then a lease on the subscription), attempts them side by side outside any
transaction, and records each outcome. A subscription's next delivery is attempted only once
its head is delivered or given up, so a receiver gets its events in order. Idle, the loop
sleeps until the next attempt falls due or a `NOTIFY webhook_deliveries` (a delivery queued or
replayed), at most `idle_poll` while its LISTEN connection is down and `listening_poll` while
it is up. Several replicas may run it; a dead one's leases run out and are taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.waiting import wait_for_wake
from counseling_shared.wakeups import ListenState, listen_for_wakeups
from notify.adapters import webhook_store
from notify.application.webhooks import WebhookCourier

log = get_logger(__name__)


class WebhookWorker:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        dsn: str,
        schema: str | None,
        clock: Clock,
        courier: WebhookCourier,
        lease: timedelta,
        concurrency: int,
        idle_poll: float = 1.0,
        listening_poll: float = 10.0,
        retry_delay: float = 1.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._clock = clock
        self._courier = courier
        self._lease = lease
        self._concurrency = concurrency
        self._idle_poll = idle_poll
        self._listening_poll = listening_poll
        self._listen = ListenState()
        self._retry_delay = retry_delay
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener = asyncio.create_task(
            listen_for_wakeups(
                self._dsn,
                self._schema,
                webhook_store.WAKE_CHANNEL,
                self._wake,
                retry_delay=self._retry_delay,
                state=self._listen,
            ),
            name="webhooks-listen",
        )
        try:
            while True:
                self._wake.clear()
                try:
                    if await self.deliver_due():
                        continue
                    sleep = await self._seconds_until_next()
                except DATABASE_ERRORS as exc:
                    log.warning("webhook_round_failed", error=repr(exc))
                    sleep = self._retry_delay
                await wait_for_wake(self._wake, sleep)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def deliver_due(self) -> int:
        """One round: attempt the due heads; how many were attempted."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await webhook_store.claim_heads(conn, now, self._lease, self._concurrency)
        await asyncio.gather(*(self._attempt(c) for c in claimed))
        return len(claimed)

    async def _attempt(self, claimed: webhook_store.ClaimedDelivery) -> None:
        try:
            await self._courier.attempt(claimed)
        except asyncio.CancelledError:
            await self._release(claimed)
            raise
        except Exception as exc:
            # Recording its outcome failed (the database): the lease runs out and the same
            # attempt is made again. A crash of the attempt itself is recorded by the courier.
            log.exception(
                "webhook_attempt_not_recorded", delivery_id=str(claimed.id), error=repr(exc)
            )

    async def _release(self, claimed: webhook_store.ClaimedDelivery) -> None:
        async def release() -> None:
            async with asyncio.timeout(2.0), self._pool.acquire() as conn:
                await webhook_store.release(conn, claimed.subscription_id)

        with contextlib.suppress(Exception):
            await asyncio.shield(release())

    async def _seconds_until_next(self) -> float:
        async with self._pool.acquire() as conn:
            due = await webhook_store.next_due_at(conn)
        longest = self._listen.poll(self._idle_poll, self._listening_poll)
        if due is None:
            return longest
        # A head leased by another replica is due when its lease runs out; never spin.
        return min(max((due - self._clock.now()).total_seconds(), 0.05), longest)
