"""No SMS or messaging to a number that texted STOP: checked just before each send.

The provider is not called; the attempt fails for good with `sms_opted_out`, which sends a
client's message on by their next channel (delivery's channel fallback) and, for a page,
expedites its email. Checked at send time, not when the message is queued: notify learns a
client's number only then (booking's directory), and a STOP counts from the moment it is
received, for what is already queued too.

A bulk worker's batch looks its numbers up at once (`OptOutLookup.batch`), one statement
instead of one per message: a STOP received while the batch is being sent counts from the
next batch (a batch is a few seconds' sending). Pages are sent one at a time, each checked
right before it goes.
"""

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import asyncpg

from counseling_shared.logs import get_logger
from notify.adapters import opt_outs
from notify.application.ports import ChannelProvider, OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.domain.phones import OPTED_OUT
from notify.metrics import OPTED_OUT_SKIPS

log = get_logger(__name__)


@dataclass
class _Batch:
    numbers: frozenset[str]
    opted_out: set[str] | None = None  # looked up at the batch's first send by SMS


class OptOutLookup:
    """A lane's opt-out look-ups: a number at a time, or a batch's numbers in one statement."""

    def __init__(self, pool: "asyncpg.Pool[Any]", keys: Sequence[str]) -> None:
        self._pool = pool
        self._keys = keys
        # The current batch, per task: each worker sends its own.
        self._batch: ContextVar[_Batch | None] = ContextVar("opt_out_batch", default=None)

    @property
    def pool(self) -> "asyncpg.Pool[Any]":
        """The lane's pool (what records a sent reminder uses too)."""
        return self._pool

    @asynccontextmanager
    async def batch(self, numbers: Iterable[str]) -> AsyncIterator[None]:
        """Within it, the first `opted_out` of one of `numbers` looks them all up at once (a
        batch sent by email only looks up nothing)."""
        token = self._batch.set(_Batch(frozenset(n for n in numbers if n)))
        try:
            yield
        finally:
            self._batch.reset(token)

    async def opted_out(self, number: str) -> bool:
        batch = self._batch.get()
        if batch is None or number not in batch.numbers:
            async with self._pool.acquire() as conn:
                return await opt_outs.is_opted_out(conn, self._keys, number)
        if batch.opted_out is None:
            async with self._pool.acquire() as conn:
                batch.opted_out = await opt_outs.opted_out_among(conn, self._keys, batch.numbers)
        return number in batch.opted_out


class OptOutGuard:
    def __init__(self, provider: ChannelProvider, lookup: OptOutLookup) -> None:
        self._provider = provider
        self._lookup = lookup

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        if await self._lookup.opted_out(message.to):
            OPTED_OUT_SKIPS.labels(message.channel.value).inc()
            log.info(
                "notification_opted_out",
                notification_id=str(message.notification_id),
                channel=message.channel.value,
            )
            return DeliveryOutcome.permanent(OPTED_OUT)
        return await self._provider.send(message)
