"""`counselctl rebuild` and `clients erase` lock or rewrite `events`, which a service's runtime
role (its `DATABASE_URL` in compose and Kubernetes) may not: they take the owner from the
`MIGRATION_DATABASE_URL` variables, and say so when given only the runtime role.

Four services' tables in four schemas of one database, owned by a real owner role, the runtime
role granted what `grant_runtime_access` grants (as every service's migration does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from uuid import uuid4

import pytest
from typer.testing import CliRunner, Result

from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations, grant_runtime_access
from devstack.handles import PostgresHandle
from devstack.postgres import (
    ServiceRoles,
    drop_database,
    drop_roles,
    ensure_database,
    ensure_service_roles,
    with_role,
)
from opsctl.cli import app
from tests.opsctl.integration.support import SCHEMAS

pytestmark = pytest.mark.integration

# The machine's own settings must not stand in for the ones a test leaves out.
_UNSET: dict[str, str | None] = dict.fromkeys(
    ["DATABASE_URL", "MIGRATION_DATABASE_URL", "DATABASE_SCHEMA"]
    + [f"{s.upper()}_{k}" for s in SCHEMAS for k in ("DATABASE_URL", "MIGRATION_DATABASE_URL")]
)


@dataclass(frozen=True)
class Center:
    owner_url: str
    runtime_url: str
    runtime: str


@pytest.fixture(scope="module")
async def center(postgres_server: PostgresHandle) -> AsyncIterator[Center]:
    tag = uuid4().hex[:8]
    name = f"t_owner_role_{tag}"
    roles = ServiceRoles(owner=f"t_own_{tag}", runtime=f"t_rt_{tag}", password=uuid4().hex)
    await ensure_database(postgres_server.url(), name)
    try:
        await ensure_service_roles(postgres_server.url(), name, roles)
        url = postgres_server.url(name)
        owner_url = with_role(url, roles.owner, roles.password)
        for schema, migrations in SCHEMAS.items():
            conn = await connect(owner_url, schema=schema)
            try:
                await apply_migrations(conn, migrations, schema=schema)
                await grant_runtime_access(conn, roles.runtime, schema=schema)
            finally:
                await conn.close()
        yield Center(owner_url, with_role(url, roles.runtime, roles.password), roles.runtime)
    finally:
        await drop_database(postgres_server.url(), name)
        await drop_roles(postgres_server.url(), roles)


def _invoke(args: list[str], urls: Mapping[str, str]) -> Result:
    schemas = {f"{s.upper()}_DATABASE_SCHEMA": s for s in SCHEMAS}
    return CliRunner().invoke(app, args, env=_UNSET | schemas | dict(urls))


@pytest.mark.parametrize("service", list(SCHEMAS))
def test_rebuild_takes_the_owner_from_the_migration_variable(center: Center, service: str) -> None:
    prefix = service.upper()
    runtime_only = {f"{prefix}_DATABASE_URL": center.runtime_url}

    refused = _invoke(["rebuild", "--service", service], runtime_only)
    done = _invoke(
        ["rebuild", "--service", service, "--json"],
        runtime_only | {f"{prefix}_MIGRATION_DATABASE_URL": center.owner_url},
    )

    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())  # rich wraps lines
    assert f"rebuild of {service}: the database role {center.runtime} may not" in said
    assert f"set MIGRATION_DATABASE_URL or {prefix}_MIGRATION_DATABASE_URL" in said
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["service"] == service


def test_erase_takes_each_owner_from_the_migration_variables(center: Center, nats_url: str) -> None:
    client_id = str(uuid4())
    runtime_only = {f"{s.upper()}_DATABASE_URL": center.runtime_url for s in SCHEMAS}
    owners = {f"{s.upper()}_MIGRATION_DATABASE_URL": center.owner_url for s in SCHEMAS}
    args = ["clients", "erase", client_id, "--yes", "--json", "--nats-url", nats_url]

    refused = _invoke(args, runtime_only)
    # crisis (erased first) has its owner, followup only its runtime role.
    halfway = _invoke(args, runtime_only | {"CRISIS_MIGRATION_DATABASE_URL": center.owner_url})
    done = _invoke(args, runtime_only | owners)

    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert f"crisis erase (already erased: nothing): the database role {center.runtime}" in said
    assert "set MIGRATION_DATABASE_URL or CRISIS_MIGRATION_DATABASE_URL" in said
    assert halfway.exit_code == 1, halfway.output
    said = " ".join(halfway.output.split())
    assert "followup erase (already erased: crisis): the database role" in said
    assert done.exit_code == 0, done.output
    assert list(json.loads(done.stdout)["erased"]) == ["crisis", "followup", "notify", "booking"]


def test_the_runtime_role_is_what_stops_them(center: Center) -> None:
    """The premise: the runtime role may read `events` but neither lock it nor delete from it."""

    async def attempt() -> list[str]:
        conn = await connect(center.runtime_url, schema="crisis")
        denied = []
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
            for sql in ("LOCK TABLE events IN SHARE MODE", "DELETE FROM events"):
                try:
                    async with conn.transaction():
                        await conn.execute(sql)
                except Exception as exc:  # the class is what is checked
                    denied.append(type(exc).__name__)
        finally:
            await conn.close()
        return denied

    assert asyncio.run(attempt()) == ["InsufficientPrivilegeError"] * 2
