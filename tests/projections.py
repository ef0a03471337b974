"""Snapshots of a service database's projection tables, for "rebuilt equals live" tests."""

from collections.abc import Awaitable, Callable
from typing import Any

from counseling_shared.db import connect

BACKBONE_TABLES = {"events", "outbox", "inbox", "dead_letters", "idempotency_keys"}
Snapshot = dict[str, list[dict[str, Any]]]


async def snapshot(database_url: str) -> Snapshot:
    """Every projection table of the database (whatever the migrations made), rows sorted."""
    conn = await connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            if r["tablename"] not in BACKBONE_TABLES | {"schema_migrations"}
        ]
        return {
            t: [dict(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY {t}::text")]
            for t in sorted(tables)
        }
    finally:
        await conn.close()


async def rebuild_in_small_batches(
    database_url: str, rebuild: Callable[..., Awaitable[dict[str, int]]], **options: Any
) -> dict[str, int]:
    """Run a service's `rebuild_projections` two aggregates per batch (so every kind is split)
    and check its progress reports; return its rows per kind."""
    calls: list[tuple[int, int]] = []
    conn = await connect(database_url)
    try:
        counts = await rebuild(
            conn, progress=lambda *call: calls.append(call), flush_every=2, **options
        )
    finally:
        await conn.close()
    assert calls[-1] == (sum(counts.values()), sum(counts.values()))
    assert len(calls) > len(counts)  # kinds were split into batches
    return counts


async def rows_updated_by(
    database_url: str, rebuild: Callable[..., Awaitable[dict[str, int]]], table: str
) -> int:
    """Run a service's `rebuild_projections` inside a transaction of our own and return how
    many rows of `table` it updated (PostgreSQL's count for the running transaction), then
    commit what it wrote."""
    conn = await connect(database_url)
    try:
        async with conn.transaction():
            await rebuild(conn)
            updated: int = await conn.fetchval(
                "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = $1", table
            )
        return updated
    finally:
        await conn.close()


async def index_definitions(database_url: str) -> dict[tuple[str, str], str]:
    """Every index and constraint of the database's schema: (table, name) → definition."""
    conn = await connect(database_url)
    try:
        found = await conn.fetch(
            """SELECT tablename AS owner, indexname AS name, indexdef AS definition
               FROM pg_indexes WHERE schemaname = current_schema()
               UNION ALL
               SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
               FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"""
        )
        return {(r["owner"], r["name"]): r["definition"] for r in found}
    finally:
        await conn.close()
