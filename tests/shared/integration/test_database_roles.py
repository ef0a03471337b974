"""Migrations run as the database's owner; the runtime role gets DML, but events and audit
stay append-only for it (docs/security.md, Transport and database)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from counseling_shared.clock import SystemClock
from counseling_shared.migrations import APPEND_ONLY_TABLES
from counseling_shared.service import Runtime
from crisis.bootstrap import definition
from crisis.settings import CrisisSettings
from devstack.handles import PostgresHandle
from devstack.postgres import (
    ServiceRoles,
    drop_database,
    drop_roles,
    ensure_database,
    ensure_service_roles,
    with_database,
    with_role,
)

pytestmark = pytest.mark.integration

DENIED = asyncpg.InsufficientPrivilegeError


@pytest.fixture(scope="module")
async def roles(postgres_server: PostgresHandle, database_url: str) -> ServiceRoles:
    database = database_url.rsplit("/", 1)[1]
    made = ServiceRoles(
        owner=f"t_owner_{uuid4().hex[:8]}",
        runtime=f"t_runtime_{uuid4().hex[:8]}",
        password=uuid4().hex,
    )
    await ensure_service_roles(postgres_server.url(), database, made)
    return made


def as_role(database_url: str, role: str, roles: ServiceRoles) -> str:
    return with_role(database_url, role, roles.password)


async def migrate(database_url: str, roles: ServiceRoles) -> None:
    settings = CrisisSettings.model_validate(
        {
            "DATABASE_URL": as_role(database_url, roles.runtime, roles),
            "MIGRATION_DATABASE_URL": as_role(database_url, roles.owner, roles),
            "ALERT_BASE_URL": "https://crisis.example.test",
        }
    )
    await Runtime(definition(settings), SystemClock()).migrate()


async def connected(url: str) -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(url)
    return conn


async def test_the_runtime_role_cannot_update_or_delete_events(
    database_url: str, roles: ServiceRoles
) -> None:
    await migrate(database_url, roles)
    conn = await connected(as_role(database_url, roles.runtime, roles))
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") >= 0
        assert await conn.fetchval("SELECT has_table_privilege('events', 'INSERT')")
        with pytest.raises(DENIED):
            await conn.execute("UPDATE events SET stream_id = stream_id")
        with pytest.raises(DENIED):
            await conn.execute("DELETE FROM events")
        with pytest.raises(DENIED):
            await conn.execute("TRUNCATE events")
        # Its own projections it may change, and it may not change the schema.
        await conn.execute("UPDATE alerts SET status = status")
        await conn.execute("DELETE FROM alerts WHERE false")
        with pytest.raises(DENIED):
            await conn.execute("CREATE TABLE sneaky (id int)")
        with pytest.raises(DENIED):
            await conn.execute("DROP TABLE alerts")
    finally:
        await conn.close()


async def test_an_audit_table_is_append_only_too_once_it_exists(
    database_url: str, roles: ServiceRoles
) -> None:
    assert "audit" in APPEND_ONLY_TABLES
    owner = await connected(as_role(database_url, roles.owner, roles))
    try:
        await owner.execute("CREATE TABLE IF NOT EXISTS audit (id bigint, action text)")
    finally:
        await owner.close()
    await migrate(database_url, roles)
    conn = await connected(as_role(database_url, roles.runtime, roles))
    try:
        await conn.execute(
            """INSERT INTO audit (actor_kind, actor_id, action, resource, request_id, status)
               VALUES ('key', 'k', 'read', 'clients', 'r', 200)"""
        )
        with pytest.raises(DENIED):
            await conn.execute("UPDATE audit SET action = 'nothing'")
        with pytest.raises(DENIED):
            await conn.execute("DELETE FROM audit")
    finally:
        await conn.close()


async def test_without_a_migration_url_the_service_role_migrates_and_keeps_its_rights(
    postgres_server: PostgresHandle,
) -> None:
    name = f"t_single_{uuid4().hex[:8]}"
    await ensure_database(postgres_server.url(), name)
    try:
        url = postgres_server.url(name)
        settings = CrisisSettings.model_validate(
            {"DATABASE_URL": url, "ALERT_BASE_URL": "https://crisis.example.test"}
        )
        await Runtime(definition(settings), SystemClock()).migrate()
        conn = await connected(with_database(url, name))
        try:
            await conn.execute("DELETE FROM events WHERE false")  # its own tables: all rights
        finally:
            await conn.close()
    finally:
        await drop_database(postgres_server.url(), name)


async def test_a_database_made_by_an_earlier_run_as_superuser_is_handed_to_the_owner(
    postgres_server: PostgresHandle,
) -> None:
    """`make run` on a `var/` from before the two roles: the tables are the superuser's."""
    name = f"t_earlier_{uuid4().hex[:8]}"
    roles = ServiceRoles(
        owner=f"t_owner_{uuid4().hex[:8]}", runtime=f"t_rt_{uuid4().hex[:8]}", password=uuid4().hex
    )
    await ensure_database(postgres_server.url(), name)
    try:
        url = postgres_server.url(name)
        alert_base = "https://crisis.example.test"
        superuser = CrisisSettings.model_validate(
            {"DATABASE_URL": url, "ALERT_BASE_URL": alert_base}
        )
        await Runtime(definition(superuser), SystemClock()).migrate()
        await ensure_service_roles(postgres_server.url(), name, roles)
        await migrate(url, roles)
        conn = await connected(as_role(url, roles.runtime, roles))
        try:
            await conn.execute("UPDATE alerts SET status = status")
            with pytest.raises(DENIED):
                await conn.execute("DELETE FROM events")
        finally:
            await conn.close()
    finally:
        await drop_database(postgres_server.url(), name)
        await drop_roles(postgres_server.url(), roles)
