"""Plain SQL migrations, applied in order under an advisory lock and recorded in a table.

The backbone's own files (this package's `migrations/`) run first, then the service's. Each file
runs in its own transaction, so a failing file leaves the ones before it applied and itself not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

BACKBONE_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6D696772  # "migr": one lock per database, shared by every replica


async def apply_migrations(
    conn: asyncpg.Connection[Any], service_dir: Path, *, schema: str | None = None
) -> list[str]:
    """Apply pending migrations; return the names applied now, in order."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        if schema:
            # Under the lock: two concurrent `CREATE SCHEMA IF NOT EXISTS` can both try to
            # insert the name and one fails with a unique violation on pg_namespace.
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        applied: list[str] = []
        for name, path in pending_files(service_dir):
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


def pending_files(service_dir: Path) -> list[tuple[str, Path]]:
    """Every migration file as (recorded name, path), backbone first, each set in name order."""
    files = [(f"backbone/{p.name}", p) for p in sorted(BACKBONE_MIGRATIONS.glob("*.sql"))]
    files += [(f"{service_dir.parent.name}/{p.name}", p) for p in sorted(service_dir.glob("*.sql"))]
    return files
