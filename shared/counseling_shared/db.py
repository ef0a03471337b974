"""asyncpg pool creation with the codecs every service needs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A plain connection or one borrowed from a pool: the write path accepts either.
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(
    dsn: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool[Any]:
    server_settings = {"search_path": f"{schema},public"} if schema else None
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


async def connect(dsn: str, *, schema: str | None = None) -> asyncpg.Connection[Any]:
    """A single connection with the same codecs (LISTEN, advisory locks, tooling)."""
    server_settings = {"search_path": f"{schema},public"} if schema else None
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, server_settings=server_settings)
    await _init_connection(conn)
    return conn
