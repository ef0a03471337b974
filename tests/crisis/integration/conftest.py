from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest

from counseling_shared.clock import Clock, ControllableClock
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    crisis_settings,
    running_crisis,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def start_crisis(database_url: str, nats_url: str) -> StartCrisis:
    """Starts crisis on the module's database and NATS (see `StartCrisis`)."""

    def start(
        clock: Clock | None = None, **settings: Any
    ) -> AbstractAsyncContextManager[RunningCrisis]:
        return running_crisis(crisis_settings(database_url, nats_url, **settings), clock)

    return start


@pytest.fixture(scope="module")
def clock() -> ControllableClock:
    """A clock the module's tests move by hand, from now (to the whole second)."""
    return ControllableClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
async def crisis(
    request: pytest.FixtureRequest, start_crisis: StartCrisis
) -> AsyncIterator[RunningCrisis]:
    """One crisis service for the test module, on the module's own database; on the module's
    `clock` when the module is marked `crisis_on_clock`, else on the system's."""
    on_clock = request.node.get_closest_marker("crisis_on_clock") is not None
    async with start_crisis(request.getfixturevalue("clock") if on_clock else None) as running:
        yield running


@pytest.fixture(scope="module")
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    async with Bus.connect(nats_url) as connected:
        yield connected
