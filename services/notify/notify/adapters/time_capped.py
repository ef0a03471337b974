"""A provider whose whole send is capped in time (pages: at most 10 s per attempt).

The SMTP and HTTP clients' own timeouts apply to each step (connect, each command, each read),
so a server that answers slowly but never stalls outright could hold a page's attempt far longer.
"""

import asyncio

from notify.application.ports import ChannelProvider, OutgoingMessage
from notify.domain.notification import DeliveryOutcome


class TimeCapped:
    def __init__(self, provider: ChannelProvider, seconds: float) -> None:
        self._provider = provider
        self._seconds = seconds

    async def send(self, message: OutgoingMessage) -> DeliveryOutcome:
        try:
            async with asyncio.timeout(self._seconds):
                return await self._provider.send(message)
        except TimeoutError:
            # Retried like any transient failure; the same Message-ID or idempotency key goes.
            return DeliveryOutcome.transient("provider_timeout")
