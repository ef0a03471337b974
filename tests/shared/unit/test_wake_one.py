"""`WakeOne`: a wake-up reaches one idle worker, and is kept when nobody is idle."""

import asyncio

from counseling_shared.wakeups import WakeOne


async def test_a_wake_up_reaches_one_of_several_idle_workers() -> None:
    wake = WakeOne()
    waiters = [asyncio.create_task(wake.wait(5.0)) for _ in range(3)]
    await asyncio.sleep(0.01)  # all three idle
    wake.set()
    done, pending = await asyncio.wait(waiters, timeout=0.2)
    assert [task.result() for task in done] == [True]
    assert len(pending) == 2
    for task in pending:
        task.cancel()


async def test_a_wake_up_with_nobody_idle_is_kept_for_the_next_to_wait() -> None:
    wake = WakeOne()
    wake.set()
    assert await asyncio.wait_for(wake.wait(5.0), timeout=1.0) is True
    assert await wake.wait(0.05) is False  # used once, then gone
