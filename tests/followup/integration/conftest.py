"""One followup service per test module, on the session's NATS and a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from counseling_shared.db import create_pool
from counseling_shared.jetstream import ensure_streams
from tests.followup.integration.support import ADMIN, RunningFollowup

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    client: NatsClient = await nats.connect(nats_url, max_reconnect_attempts=-1)
    context = client.jetstream(timeout=5.0)
    await ensure_streams(context)
    yield context
    await client.close()


@pytest.fixture(scope="module")
async def service(
    database_url: str, nats_url: str, js: JetStreamContext
) -> AsyncIterator[RunningFollowup]:
    running = await RunningFollowup(database_url, nats_url).start()
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def api(service: RunningFollowup) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=ADMIN, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
async def db(database_url: str, service: RunningFollowup) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(database_url, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture
def impatient(service: RunningFollowup) -> Iterator[None]:
    """followup refusing an id it has not heard of after 0.3 s, for tests of that refusal (the
    harness otherwise waits `KNOWN_ID_WAIT_SECONDS` for booking's event)."""
    assert service.runtime is not None
    settings = service.runtime.settings
    generous = settings.known_id_wait_seconds
    settings.known_id_wait_seconds = 0.3
    yield
    settings.known_id_wait_seconds = generous
