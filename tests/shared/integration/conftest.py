"""A migrated database, a pool and a JetStream client per test module, on the session's servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from counseling_shared.db import connect, create_pool
from counseling_shared.jetstream import ensure_streams
from counseling_shared.migrations import apply_migrations
from devstack.handles import NatsHandle
from tests.shared.integration.support import PROBE_MIGRATIONS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def migrated_url(database_url: str) -> str:
    """The module's fresh database with the backbone's tables and the probe service's."""
    conn = await connect(database_url)
    try:
        await apply_migrations(conn, PROBE_MIGRATIONS)
    finally:
        await conn.close()
    return database_url


@pytest.fixture(scope="module")
async def pool(migrated_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    db = await create_pool(migrated_url, max_size=10)
    yield db
    await db.close()


@pytest.fixture(scope="module")
async def nc(nats_server: NatsHandle) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def js(nc: NatsClient) -> JetStreamContext:
    context = nc.jetstream(timeout=5.0)
    await ensure_streams(context)
    return context
