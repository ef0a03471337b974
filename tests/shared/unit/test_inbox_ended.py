"""Ending a consumer's helper task (its keep-alive, its pin keeper) must not swallow a
cancellation of the consumer itself: one that did kept fetching after it was cancelled."""

import asyncio
import contextlib

import pytest

from counseling_shared.inbox import _ended


async def _slow_to_end() -> None:
    try:
        await asyncio.sleep(10)
    finally:
        await asyncio.sleep(0.2)  # a helper ends after a moment (a last in_progress)


async def _ending_a_helper(ender: str) -> str:
    helper = asyncio.create_task(_slow_to_end())
    await asyncio.sleep(0)
    if ender == "suppress":  # the former way
        helper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await helper
    else:
        await _ended(helper)
    return "went on"


async def test_a_task_cancelled_while_it_ends_a_helper_is_cancelled() -> None:
    task = asyncio.create_task(_ending_a_helper("ended"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_former_way_swallowed_the_cancellation() -> None:
    task = asyncio.create_task(_ending_a_helper("suppress"))
    await asyncio.sleep(0.05)
    task.cancel()
    assert await task == "went on"
