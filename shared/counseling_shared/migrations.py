"""Plain SQL migrations, applied in order under an advisory lock and recorded in a table.

The backbone's own files (this package's `migrations/`) run first, then the service's. Each file
runs in its own transaction, so a failing file leaves the ones before it applied and itself not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

BACKBONE_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x6D696772  # "migr": one lock per database, shared by every replica

PERMANENT_SQLSTATE_CLASSES = frozenset({"0A", "22", "23", "2B", "3F", "42"})
"""SQLSTATE classes a second try of the same migration meets again (a syntax error, a missing
privilege or object, a value that does not fit). The rest (the connection, a lock or statement
timeout, a deadlock, the server shutting down) may pass: the service keeps trying those."""


class MigrationFailed(Exception):
    """A migration (or the grants after them) failed in a way retrying would not fix."""

    def __init__(self, step: str, exc: asyncpg.PostgresError) -> None:
        super().__init__(
            f"{step} failed: {type(exc).__name__}: {exc} (SQLSTATE {exc.sqlstate}); fix the"
            " database or the role of MIGRATION_DATABASE_URL (else DATABASE_URL), then start"
            " again"
        )


def is_permanent(exc: asyncpg.PostgresError) -> bool:
    return str(exc.sqlstate or "")[:2] in PERMANENT_SQLSTATE_CLASSES


APPEND_ONLY_TABLES = ("events", "audit")
"""Tables the runtime role may read and insert into, never update or delete
(docs/security.md, Transport and database)."""


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
            try:
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            except asyncpg.PostgresError as exc:
                if is_permanent(exc):
                    raise MigrationFailed(f"migration {name}", exc) from exc
                raise
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


def pending_files(service_dir: Path) -> list[tuple[str, Path]]:
    """Every migration file as (recorded name, path), backbone first, each set in name order."""
    files = [(f"backbone/{p.name}", p) for p in sorted(BACKBONE_MIGRATIONS.glob("*.sql"))]
    files += [(f"{service_dir.parent.name}/{p.name}", p) for p in sorted(service_dir.glob("*.sql"))]
    return files


def role_of(dsn: str) -> str | None:
    """The role a PostgreSQL URL logs in as (None: libpq's default, the OS user)."""
    user = urlsplit(dsn).username
    return unquote(user) if user else None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def grant_runtime_access(
    conn: asyncpg.Connection[Any], role: str | None, *, schema: str | None = None
) -> None:
    """Give the runtime role DML on every table the migrations made, but no UPDATE or DELETE
    on the append-only ones. Run as the migration role (the tables' owner) after migrating, so
    tables added by a later migration are covered too."""
    if role is None:
        return
    namespace = _ident(schema or "public")
    grantee = _ident(role)
    await conn.execute(
        f"""GRANT USAGE ON SCHEMA {namespace} TO {grantee};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {namespace}
                TO {grantee};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {namespace} TO {grantee};"""
    )
    present = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY($2::text[])""",
        schema or "public",
        list(APPEND_ONLY_TABLES),
    )
    for row in present:
        table = f"{namespace}.{_ident(row['relname'])}"
        await conn.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {grantee}")
