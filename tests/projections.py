"""Snapshots of a service database's projection tables, for "rebuilt equals live" tests."""

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
