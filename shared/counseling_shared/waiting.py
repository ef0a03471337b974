"""Waiting with a timeout without losing a cancellation.

In Python 3.11, `asyncio.wait_for` returns the result when the awaited thing completes in the
same loop step as a cancel, swallowing the cancellation: a background loop that sleeps that way
(woken by NOTIFY) can ignore `Runtime.stop()` for ever. `asyncio.timeout` keeps it.
"""

import asyncio


async def wait_for_wake(wake: asyncio.Event, timeout: float) -> bool:
    """Wait until `wake` is set or `timeout` seconds pass; True when it was set."""
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await wake.wait()
    except TimeoutError:
        return False
    return True
