"""The services' connection pool: what a released connection keeps and what it drops."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from counseling_shared.db import create_pool

pytestmark = pytest.mark.integration


async def test_a_connection_released_inside_a_transaction_comes_back_without_it(
    migrated_url: str,
) -> None:
    pool = await create_pool(migrated_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute("SELECT pg_advisory_xact_lock(4242)")
            # Released without commit or rollback, as a cancelled request's is.
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert not await again.fetchval(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
    finally:
        await pool.close()


async def test_returning_a_connection_to_the_pool_sends_nothing_to_the_server(
    pool: asyncpg.Pool[Any],
) -> None:
    async with pool.acquire() as conn:
        raw: Any = conn._con  # type: ignore[attr-defined]
        before = raw._protocol.queries_count
    assert raw._protocol.queries_count == before
