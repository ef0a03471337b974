"""The loop behind the gauges a service reads from its database: every replica reports the same
figures (rules read them with `max`), refreshed every `interval`."""

import asyncio
from collections.abc import Awaitable, Callable

from counseling_shared.logs import get_logger

log = get_logger(__name__)


async def refresh_every(
    interval: float, refresh: Callable[[], Awaitable[None]], failed_event: str
) -> None:
    """Run `refresh` now and every `interval` seconds, for ever; a failure is logged as
    `failed_event` and the next round tried."""
    while True:
        try:
            await refresh()
        except Exception as exc:
            # Gauges are not worth stopping the process for (a crashed task would).
            log.warning(failed_event, error=repr(exc))
        await asyncio.sleep(interval)
