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


async def test_of_several_idle_workers_only_one_keeps_its_timeout() -> None:
    wake = WakeOne()
    waiters = [asyncio.create_task(wake.poll_or_wait(0.1)) for _ in range(3)]
    done, pending = await asyncio.wait(waiters, timeout=0.5)
    assert [task.result() for task in done] == [False]  # the poller's timeout ran out
    assert len(pending) == 2  # the others wait for a wake-up
    wake.set()
    woken, _ = await asyncio.wait(pending, timeout=0.2)
    assert [task.result() for task in woken] == [True]
    for task in pending:
        task.cancel()


async def test_a_worker_due_to_look_sooner_than_the_poller_keeps_its_own_timeout() -> None:
    wake = WakeOne()
    poller = asyncio.create_task(wake.poll_or_wait(5.0))
    await asyncio.sleep(0.01)
    sooner = asyncio.create_task(wake.poll_or_wait(0.1))  # a retry due in 0.1 s
    done, _ = await asyncio.wait([poller, sooner], timeout=0.5)
    assert done == {sooner}
    assert sooner.result() is False
    poller.cancel()


async def test_once_the_poller_is_woken_the_next_idle_worker_polls() -> None:
    wake = WakeOne()
    first = asyncio.create_task(wake.poll_or_wait(0.1))
    await asyncio.sleep(0.01)
    wake.set()  # wakes the poller (the longest idle)
    assert await first is True
    second = asyncio.create_task(wake.poll_or_wait(0.1))
    done, _ = await asyncio.wait([second], timeout=0.5)
    assert done == {second}, "nobody took over the poll"
    assert second.result() is False
