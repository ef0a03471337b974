"""`indexes_built_after`: a table's secondary indexes are gone while the caller writes and
back, with the same definitions, when it is done; primary keys and unique indexes stay; an
exclusion constraint dropped on request is checked again; an error leaves everything as it
was (the transaction's rollback)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from counseling_shared.rebuild_indexes import indexes_built_after

if TYPE_CHECKING:
    from counseling_shared.db import Connection

pytestmark = pytest.mark.integration

TABLE = """CREATE TABLE IF NOT EXISTS rebuilt_probe (
    id integer PRIMARY KEY,
    code text UNIQUE,
    owner integer NOT NULL,
    during tstzrange NOT NULL,
    status text NOT NULL,
    CONSTRAINT rebuilt_probe_owner_free EXCLUDE USING gist (owner WITH =, during WITH &&)
)"""
INDEXES = (
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    TABLE,
    "CREATE INDEX IF NOT EXISTS rebuilt_probe_by_owner ON rebuilt_probe (owner, id DESC)",
    "CREATE INDEX IF NOT EXISTS rebuilt_probe_open ON rebuilt_probe (id) WHERE status = 'open'",
    "CREATE UNIQUE INDEX IF NOT EXISTS rebuilt_probe_one_open ON rebuilt_probe (owner)"
    " WHERE status = 'open'",
)
ROW = "INSERT INTO rebuilt_probe VALUES ($1, $2, $3, tstzrange(now(), now() + '1 hour'), $4)"


async def _definitions(conn: Connection) -> dict[str, str]:
    """Every index of the probe table and every constraint, by name."""
    found = await conn.fetch(
        """SELECT indexname AS name, indexdef AS definition FROM pg_indexes
           WHERE tablename = 'rebuilt_probe' AND schemaname = current_schema()
           UNION ALL
           SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'rebuilt_probe'::regclass"""
    )
    return {r["name"]: r["definition"] for r in found}


@pytest.fixture
async def probe(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    async with pool.acquire() as conn:
        for statement in INDEXES:
            await conn.execute(statement)
        await conn.execute("TRUNCATE rebuilt_probe")
    return pool


async def test_the_secondary_indexes_are_dropped_meanwhile_and_come_back_the_same(
    probe: asyncpg.Pool[Any],
) -> None:
    async with probe.acquire() as conn:
        before = await _definitions(conn)
        async with conn.transaction():
            async with indexes_built_after(conn, ["rebuilt_probe"], exclusions=True) as dropped:
                meanwhile = await _definitions(conn)
                await conn.execute(ROW, 1, "a", 7, "open")
                await conn.execute(ROW, 2, "b", 8, "done")
            after = await _definitions(conn)
    assert after == before
    assert len(dropped) == 3  # two plain indexes and the exclusion constraint
    assert set(before) - set(meanwhile) == {
        "rebuilt_probe_by_owner",
        "rebuilt_probe_open",
        "rebuilt_probe_owner_free",
    }
    # Kept: the primary key, the unique constraint, the unique index.
    assert {"rebuilt_probe_pkey", "rebuilt_probe_code_key", "rebuilt_probe_one_open"} <= set(
        meanwhile
    )


async def _two_overlapping_rows(conn: Connection, *, exclusions: bool) -> None:
    """Same owner, overlapping times, written in one transaction without the indexes."""
    async with (
        conn.transaction(),
        indexes_built_after(conn, ["rebuilt_probe"], exclusions=exclusions) as dropped,
    ):
        assert len(dropped) == (3 if exclusions else 2)
        await conn.execute(ROW, 1, "a", 7, "done")
        await conn.execute(ROW, 2, "b", 7, "done")


async def test_an_exclusion_broken_meanwhile_fails_and_rolls_everything_back(
    probe: asyncpg.Pool[Any],
) -> None:
    async with probe.acquire() as conn:
        before = await _definitions(conn)
        # Refused only when the constraint is added again, and nothing stays.
        with pytest.raises(asyncpg.ExclusionViolationError):
            await _two_overlapping_rows(conn, exclusions=True)
        assert await _definitions(conn) == before
        assert await conn.fetchval("SELECT count(*) FROM rebuilt_probe") == 0


async def test_without_exclusions_the_constraint_stays_and_checks_each_row(
    probe: asyncpg.Pool[Any],
) -> None:
    async with probe.acquire() as conn:
        with pytest.raises(asyncpg.ExclusionViolationError):
            await _two_overlapping_rows(conn, exclusions=False)


FOREIGN = (
    "CREATE TABLE IF NOT EXISTS rebuilt_parent (id integer PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS rebuilt_outside (id integer PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS rebuilt_child (
        id integer PRIMARY KEY,
        parent integer NOT NULL REFERENCES rebuilt_parent (id),
        outside integer REFERENCES rebuilt_outside (id)
    )""",
)


async def _keys(conn: Connection) -> dict[str, str]:
    found = await conn.fetch(
        """SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
           WHERE conrelid = 'rebuilt_child'::regclass AND contype = 'f'"""
    )
    return {r["conname"]: r["definition"] for r in found}


@pytest.fixture
async def family(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    async with pool.acquire() as conn:
        for statement in FOREIGN:
            await conn.execute(statement)
        await conn.execute("TRUNCATE rebuilt_child, rebuilt_parent, rebuilt_outside")
    return pool


async def test_foreign_keys_to_locked_tables_are_dropped_meanwhile_and_come_back(
    family: asyncpg.Pool[Any],
) -> None:
    async with family.acquire() as conn:
        before = await _keys(conn)
        async with conn.transaction():
            await conn.execute("TRUNCATE rebuilt_child, rebuilt_parent")  # both locked
            async with indexes_built_after(conn, ["rebuilt_child"], foreign_keys=True) as dropped:
                meanwhile = await _keys(conn)
                # The child first: no trigger looks for its parent until the key is back.
                await conn.execute("INSERT INTO rebuilt_child VALUES (1, 5, NULL)")
                await conn.execute("INSERT INTO rebuilt_parent VALUES (5)")
        after = await _keys(conn)
    assert after == before
    assert [d.drop for d in dropped] == [
        "ALTER TABLE rebuilt_child DROP CONSTRAINT rebuilt_child_parent_fkey"
    ]
    # The key to a table the caller has not locked stays: adding it again would lock it.
    assert set(meanwhile) == {"rebuilt_child_outside_fkey"}


async def test_without_the_referenced_table_locked_the_key_stays(
    family: asyncpg.Pool[Any],
) -> None:
    async with family.acquire() as conn, conn.transaction():
        await conn.execute("TRUNCATE rebuilt_child")
        async with indexes_built_after(conn, ["rebuilt_child"], foreign_keys=True) as dropped:
            assert dropped == []
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute("INSERT INTO rebuilt_child VALUES (1, 5, NULL)")


async def _orphan_written_without_its_key(conn: Connection) -> None:
    async with conn.transaction():
        await conn.execute("TRUNCATE rebuilt_child, rebuilt_parent")
        async with indexes_built_after(conn, ["rebuilt_child"], foreign_keys=True):
            await conn.execute("INSERT INTO rebuilt_child VALUES (1, 5, NULL)")


async def test_a_foreign_key_broken_meanwhile_fails_and_rolls_everything_back(
    family: asyncpg.Pool[Any],
) -> None:
    async with family.acquire() as conn:
        before = await _keys(conn)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _orphan_written_without_its_key(conn)
        assert await _keys(conn) == before
        assert await conn.fetchval("SELECT count(*) FROM rebuilt_child") == 0
