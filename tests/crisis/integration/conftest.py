from collections.abc import AsyncIterator

import pytest

from devstack.handles import NatsHandle
from tests.crisis.integration.harness import Bus, RunningCrisis, crisis_settings, running_crisis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(database_url: str, nats_server: NatsHandle) -> AsyncIterator[RunningCrisis]:
    """One crisis service for the test module, on the module's own database."""
    async with running_crisis(crisis_settings(database_url, nats_server.url)) as running:
        yield running


@pytest.fixture(scope="module")
async def bus(nats_server: NatsHandle) -> AsyncIterator[Bus]:
    async with Bus.connect(nats_server.url) as connected:
        yield connected
