from collections.abc import AsyncIterator

import pytest

from tests.crisis.integration.harness import Bus, RunningCrisis, crisis_settings, running_crisis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(database_url: str, nats_url: str) -> AsyncIterator[RunningCrisis]:
    """One crisis service for the test module, on the module's own database."""
    async with running_crisis(crisis_settings(database_url, nats_url)) as running:
        yield running


@pytest.fixture(scope="module")
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    async with Bus.connect(nats_url) as connected:
        yield connected
