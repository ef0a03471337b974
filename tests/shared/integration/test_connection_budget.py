"""One process of each service, its pools forced to their maximum, holds exactly the PostgreSQL
connections its `connection_budget` says (counted in `pg_stat_activity`): the figures the
deployment's `max_connections` is sized by (tests/deploy/test_kubernetes.py) are the real
ones, and a pool or LISTEN connection added without counting it fails here."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.service import Runtime, ServiceDefinition
from counseling_shared.settings import ServiceSettings
from devstack.handles import PostgresHandle
from devstack.postgres import drop_database, ensure_database

pytestmark = pytest.mark.integration

# Small pools, none of the same size, so a miscount of any one of them shows.
SETTINGS = {
    "DB_POOL_MAX": "3",
    "NOTIFY_CRISIS_WORKERS": "2",
    "NOTIFY_BULK_WORKERS": "4",
    "WEBHOOK_WORKERS": "5",
    "LOG_LEVEL": "WARNING",
}


def _service(name: str) -> tuple[Callable[[ServiceSettings], ServiceDefinition], Any, Any]:
    bootstrap = importlib.import_module(f"{name}.bootstrap")
    settings = importlib.import_module(f"{name}.settings")
    cls = getattr(settings, f"{name.title()}Settings")
    return bootstrap.definition, bootstrap.connection_budget, cls


async def _held(admin: asyncpg.Connection[Any], database: str) -> int:
    count: int = await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database
    )
    return count


def _pools(runtime: Runtime) -> list[asyncpg.Pool[Any]]:
    """The runtime's pool and the pools notify's lanes and webhook worker opened for
    themselves (each loop keeps its pool as `_pool`)."""
    pools = [runtime.db()]
    for loop in runtime.definition.state.values():
        pool = getattr(loop, "_pool", None)
        if isinstance(pool, asyncpg.Pool) and pool is not runtime.pool:
            pools.append(pool)
    return pools


@contextlib.asynccontextmanager
async def _all_taken(pools: list[asyncpg.Pool[Any]]) -> AsyncIterator[None]:
    """Every connection of every pool acquired at once: each pool at its maximum size."""
    async with contextlib.AsyncExitStack() as stack:
        for pool in pools:
            for _ in range(pool.get_max_size()):
                await asyncio.wait_for(stack.enter_async_context(pool.acquire()), 10.0)
        yield


@pytest.mark.parametrize("name", ["booking", "followup", "notify", "crisis"])
async def test_a_process_with_its_pools_at_most_holds_its_connection_budget(
    name: str, postgres_server: PostgresHandle, nats_url: str
) -> None:
    definition, connection_budget, settings_class = _service(name)
    database = f"t_budget_{name}_{uuid.uuid4().hex[:8]}"
    await ensure_database(postgres_server.url(), database)
    settings = settings_class.model_validate(
        SETTINGS | {"DATABASE_URL": postgres_server.url(database), "NATS_URL": nats_url}
    )
    budget = connection_budget(settings)
    runtime = Runtime(definition(settings), SystemClock())
    admin = await asyncpg.connect(postgres_server.url())
    try:
        await runtime.start()
        # The loops' pools and LISTEN connections open in the background.
        expected_pools = 5 if name == "notify" else 1
        for _ in range(100):
            if len(_pools(runtime)) == expected_pools:
                break
            await asyncio.sleep(0.1)
        assert len(_pools(runtime)) == expected_pools
        async with _all_taken(_pools(runtime)):
            held = await _held(admin, database)
            for _ in range(50):  # a LISTEN connection may still be connecting
                if held >= budget:
                    break
                await asyncio.sleep(0.1)
                held = await _held(admin, database)
            await asyncio.sleep(1.0)  # nothing more opens later
            held = await _held(admin, database)
        print(f"{name}: {held} connections held, budget {budget}")
        assert held == budget
    finally:
        await runtime.stop()
        await admin.close()
        await drop_database(postgres_server.url(), database)
