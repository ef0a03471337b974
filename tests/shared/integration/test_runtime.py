"""The runtime starts a service's loops and stops them, even a loop that loses a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import uuid4

import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.service import Runtime
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import probe_definition

pytestmark = pytest.mark.integration


async def test_stop_ends_a_background_loop_that_swallowed_its_first_cancellation(
    migrated_url: str, nats_server: NatsHandle
) -> None:
    started = asyncio.Event()

    async def swallows_one_cancel(runtime: Runtime) -> None:
        started.set()
        # What Python 3.11's asyncio.wait_for does (nats-py's fetch and next_msg use it) when
        # the awaited result is ready in the same step as the cancel.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.Event().wait()

    definition = probe_definition(
        database_url=migrated_url, nats_url=nats_server.url, site_id=uuid4()
    )
    definition.background = [swallows_one_cancel]
    runtime = Runtime(definition, SystemClock())
    await runtime.start()
    await asyncio.wait_for(started.wait(), 5.0)

    stopping = asyncio.create_task(runtime.stop())
    done, _ = await asyncio.wait([stopping], timeout=5.0)

    assert stopping in done, "Runtime.stop() is stuck on a loop that lost one cancellation"
    assert runtime.nats().is_closed
