"""Waiting with a timeout without losing a cancellation.

In Python 3.11, `asyncio.wait_for` returns the result when the awaited thing completes in the
same loop step as a cancel, swallowing the cancellation: a background loop that sleeps that way
(woken by NOTIFY) can ignore `Runtime.stop()` for ever. `asyncio.timeout` keeps it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_for_wake(wake: asyncio.Event, timeout: float) -> bool:
    """Wait until `wake` is set or `timeout` seconds pass; True when it was set."""
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await wake.wait()
    except TimeoutError:
        return False
    return True


async def poll_until(
    check: Callable[[], Awaitable[bool]], within: float, every: float = 0.1
) -> bool:
    """Ask `check` until it answers True or `within` seconds pass; its last answer.

    A service learns sites, clients and staff from booking's events a moment after booking
    answered: a request naming one that quickly waits for the event instead of failing."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)
