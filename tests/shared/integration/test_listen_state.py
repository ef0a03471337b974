"""A LISTEN connection says whether it is up, and wakes its loop when it goes down."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from counseling_shared.wakeups import ListenState, listen_for_wakeups
from tests.shared.integration.support import eventually

pytestmark = pytest.mark.integration


async def test_a_listener_that_loses_its_connection_says_so_and_wakes_its_loop(
    migrated_url: str,
) -> None:
    state, wake = ListenState(), asyncio.Event()
    listener = asyncio.create_task(
        listen_for_wakeups(migrated_url, None, "listen_state", wake, retry_delay=5.0, state=state)
    )
    admin = await asyncpg.connect(migrated_url)
    try:

        async def up() -> bool:
            return state.up

        await eventually(up)
        wake.clear()
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE query = 'LISTEN \"listen_state\"'"
        )
        assert terminated == 1
        await asyncio.wait_for(wake.wait(), 3.0)  # its loop looks now, then polls short
        assert state.up is False  # and stays down until the retry, 5 s later
    finally:
        await admin.close()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
