"""No SMS or messaging to a number that texted STOP: checked just before each send.

The provider is not called; the attempt fails for good with `sms_opted_out`, which sends a
client's message on by their next channel (delivery's channel fallback) and, for a page,
expedites its email. Checked at send time, not when the message is queued: notify learns a
client's number only then (booking's directory), and a STOP counts from the moment it is
received, for what is already queued too.
"""

from collections.abc import Sequence
from typing import Any

import asyncpg

from counseling_shared.logs import get_logger
from notify.adapters import opt_outs
from notify.application.ports import ChannelProvider, OutgoingMessage
from notify.domain.notification import DeliveryOutcome
from notify.domain.phones import OPTED_OUT
from notify.metrics import OPTED_OUT_SKIPS

log = get_logger(__name__)


class OptOutGuard:
    def __init__(
        self, provider: ChannelProvider, pool: "asyncpg.Pool[Any]", keys: Sequence[str]
    ) -> None:
        self._provider = provider
        self._pool = pool
        self._keys = keys

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        async with self._pool.acquire() as conn:
            opted_out = await opt_outs.is_opted_out(conn, self._keys, message.to)
        if opted_out:
            OPTED_OUT_SKIPS.labels(message.channel.value).inc()
            log.info(
                "notification_opted_out",
                notification_id=str(message.notification_id),
                channel=message.channel.value,
            )
            return DeliveryOutcome.permanent(OPTED_OUT)
        return await self._provider.send(message)
