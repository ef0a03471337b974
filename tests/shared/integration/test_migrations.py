"""Plain SQL migrations: backbone first, each file once, recorded, safe with several runners."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from counseling_shared.db import connect
from counseling_shared.migrations import BACKBONE_MIGRATIONS, apply_migrations
from devstack.handles import PostgresHandle
from devstack.postgres import drop_database, ensure_database

pytestmark = pytest.mark.integration

BACKBONE = [f"backbone/{p.name}" for p in sorted(BACKBONE_MIGRATIONS.glob("*.sql"))]


@pytest.fixture
async def fresh_db(postgres_server: PostgresHandle) -> AsyncIterator[str]:
    name = f"t_migrations_{uuid.uuid4().hex[:10]}"
    await ensure_database(postgres_server.url(), name)
    yield postgres_server.url(name)
    await drop_database(postgres_server.url(), name)


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A service's migrations: the first reads the backbone's `events`, so it must run after."""
    directory = tmp_path / "probe" / "migrations"
    directory.mkdir(parents=True)
    (directory / "0001_rooms.sql").write_text(
        """CREATE TABLE rooms (id uuid PRIMARY KEY, name text NOT NULL);
           CREATE VIEW room_events AS SELECT * FROM events WHERE stream_id LIKE 'room-%';
           CREATE TABLE migration_runs (file text NOT NULL);
           INSERT INTO migration_runs VALUES ('0001');"""
    )
    (directory / "0002_room_capacity.sql").write_text(
        """ALTER TABLE rooms ADD COLUMN capacity integer NOT NULL DEFAULT 1;
           SELECT pg_sleep(0.2);  -- widen the window for a second runner
           INSERT INTO migration_runs VALUES ('0002');"""
    )
    return directory


async def apply(dsn: str, directory: Path, schema: str | None = None) -> list[str]:
    conn = await connect(dsn, schema=schema)
    try:
        return await apply_migrations(conn, directory, schema=schema)
    finally:
        await conn.close()


async def test_migrations_apply_once_in_order_and_are_recorded(
    fresh_db: str, service_dir: Path
) -> None:
    applied = await apply(fresh_db, service_dir)

    assert applied == [*BACKBONE, "probe/0001_rooms.sql", "probe/0002_room_capacity.sql"]
    conn = await connect(fresh_db)
    try:
        recorded = await conn.fetch("SELECT name FROM schema_migrations ORDER BY applied_at")
        runs = await conn.fetch("SELECT file FROM migration_runs")
    finally:
        await conn.close()
    assert [r["name"] for r in recorded] == applied
    assert [r["file"] for r in runs] == ["0001", "0002"]


async def test_a_second_run_applies_nothing(fresh_db: str, service_dir: Path) -> None:
    await apply(fresh_db, service_dir)

    assert await apply(fresh_db, service_dir) == []
    (service_dir / "0003_room_floor.sql").write_text("ALTER TABLE rooms ADD COLUMN floor int;")
    assert await apply(fresh_db, service_dir) == ["probe/0003_room_floor.sql"]


async def test_two_concurrent_runners_apply_each_file_exactly_once(
    fresh_db: str, service_dir: Path
) -> None:
    first, second = await asyncio.gather(apply(fresh_db, service_dir), apply(fresh_db, service_dir))

    assert sorted(first + second) == sorted(
        [*BACKBONE, "probe/0001_rooms.sql", "probe/0002_room_capacity.sql"]
    )
    conn = await connect(fresh_db)
    try:
        runs = await conn.fetch("SELECT file FROM migration_runs ORDER BY file")
    finally:
        await conn.close()
    assert [r["file"] for r in runs] == ["0001", "0002"]


async def test_a_failing_file_leaves_earlier_files_applied_and_itself_not(
    fresh_db: str, service_dir: Path
) -> None:
    (service_dir / "0003_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;"
    )

    with pytest.raises(Exception, match="no_such_table"):
        await apply(fresh_db, service_dir)

    conn = await connect(fresh_db)
    try:
        names = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        half_done = await conn.fetchval("SELECT to_regclass('half_done')")
    finally:
        await conn.close()
    assert "probe/0002_room_capacity.sql" in names
    assert "probe/0003_broken.sql" not in names
    assert half_done is None


async def test_database_schema_keeps_each_services_tables_in_its_own_schema(
    fresh_db: str, service_dir: Path
) -> None:
    await asyncio.gather(
        apply(fresh_db, service_dir, schema="booking"),
        apply(fresh_db, service_dir, schema="booking"),
        apply(fresh_db, service_dir, schema="crisis"),
    )

    conn = await connect(fresh_db)
    try:
        tables = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_name IN ('events', 'outbox', 'inbox', 'rooms', 'schema_migrations')"""
        )
        runs = await conn.fetchval("SELECT count(*) FROM booking.migration_runs")
    finally:
        await conn.close()
    by_schema: dict[str, set[str]] = {}
    for row in tables:
        by_schema.setdefault(row["table_schema"], set()).add(row["table_name"])
    every = {"events", "outbox", "inbox", "rooms", "schema_migrations"}
    assert by_schema == {"booking": every, "crisis": every}
    assert runs == 2
