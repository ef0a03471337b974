"""A rebuild's tables without their secondary indexes while it inserts, and with them again,
built once each, before it commits.

Maintaining an index row by row costs a rebuild more than building it once from the finished
table (most of PostgreSQL's share of rebuilding appointments). The definitions come from the
catalog (`pg_indexes.indexdef`, `pg_get_constraintdef`) when the rebuild starts, so the
migrations stay the only place they are written.

Dropped: plain indexes, and exclusion constraints and foreign keys when asked (they are added
again before commit, which checks every row again: a rebuild that broke one fails and rolls
back). A foreign key is checked row by row by a trigger that looks up and locks the
referenced row (half of the cost of inserting an appointment); added again, it is one join.
Only keys to a table the caller holds locked (a TRUNCATE) are dropped. Kept: primary keys,
unique indexes and unique constraints (upserts need them as arbiters).

`DROP INDEX` locks its table ACCESS EXCLUSIVE until commit: readers wait for the rebuild.
Use it only where the rebuild already holds that lock (a TRUNCATE in the same transaction).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class DroppedIndex:
    """An index, or an exclusion constraint, and the statements that drop and create it."""

    drop: str
    create: str


# Plain secondary indexes of the tables (each `$1` name resolved through the search path):
# not unique, not a primary key, backing no constraint.
_INDEXES = """
    SELECT 1 AS part, x.indexname::text AS key,
           format('DROP INDEX %I.%I', x.schemaname, x.indexname) AS drop, x.indexdef AS create
    FROM unnest($1::text[]) AS wanted(name)
    JOIN pg_class t ON t.oid = to_regclass(wanted.name)
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_indexes x ON x.schemaname = n.nspname AND x.tablename = t.relname
    JOIN pg_class i ON i.relname = x.indexname AND i.relnamespace = n.oid
    JOIN pg_index ix ON ix.indexrelid = i.oid
    WHERE NOT ix.indisunique AND NOT ix.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
"""

# Exclusion constraints of the tables.
_EXCLUSIONS = """
    SELECT 2, c.conname::text,
           format('ALTER TABLE %s DROP CONSTRAINT %I', t.oid::regclass, c.conname),
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', t.oid::regclass, c.conname,
                  pg_get_constraintdef(c.oid))
    FROM unnest($1::text[]) AS wanted(name)
    JOIN pg_class t ON t.oid = to_regclass(wanted.name)
    JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'x'
"""

# Foreign keys from the tables to a table this transaction holds locked against writers
# (adding a key again takes SHARE ROW EXCLUSIVE on the referenced table: with the lock held
# already, it waits for no one and blocks no one longer than the caller does).
_FOREIGN_KEYS = """
    SELECT 3, c.conrelid::regclass::text || ' ' || c.conname,
           format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname,
                  pg_get_constraintdef(c.oid))
    FROM pg_constraint c
    WHERE c.contype = 'f'
      AND c.conrelid IN (SELECT to_regclass(name) FROM unnest($1::text[]) AS name)
      AND c.confrelid IN (
          SELECT relation FROM pg_locks
          WHERE pid = pg_backend_pid() AND granted AND locktype = 'relation'
            AND mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))
"""


async def droppable(
    conn: Connection,
    tables: Sequence[str],
    *,
    exclusions: bool = False,
    foreign_keys: bool = False,
) -> list[DroppedIndex]:
    """The tables' secondary indexes (and exclusion constraints, foreign keys, if asked), from
    the catalog, in the order they are to be created again: indexes, exclusion constraints,
    foreign keys, each by name."""
    # One query, one round trip (each was a statement prepared and run on its own: 6 to 12
    # ms each at a load of 3 to 4, for a rebuild that may take 0.3 s).
    parts = [_INDEXES]
    if exclusions:
        parts.append(_EXCLUSIONS)
    if foreign_keys:
        parts.append(_FOREIGN_KEYS)
    found = await conn.fetch(" UNION ALL ".join(parts) + " ORDER BY 1, 2", list(tables))
    return [DroppedIndex(r["drop"], r["create"]) for r in found]


@asynccontextmanager
async def indexes_built_after(
    conn: Connection,
    tables: Sequence[str],
    *,
    exclusions: bool = False,
    foreign_keys: bool = False,
) -> AsyncIterator[list[DroppedIndex]]:
    """Inside the caller's transaction: drop the tables' secondary indexes, let the caller
    write, then create each again as it was. On an error nothing is created again: the
    caller's transaction rolls back, and with it the drops."""
    dropped = await droppable(conn, tables, exclusions=exclusions, foreign_keys=foreign_keys)
    # All drops as one simple query, and all creates as another: one round trip each.
    if dropped:
        await conn.execute(";\n".join(index.drop for index in dropped))
    yield dropped
    if dropped:
        await conn.execute(";\n".join(index.create for index in dropped))
