"""deploy/postgres/init-databases.sh against a real PostgreSQL: one database and one role per
service, each role able to run its service's migrations and unable to enter another's database.

The compose file runs this script inside the postgres image; here it runs with the embedded
PostgreSQL's psql on a server of its own (roles are cluster-wide, so not the shared one)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from counseling_shared.migrations import apply_migrations
from devstack.postgres import PostgresServer, postgres_bin_dir
from tests.deploy.support import DEPLOY, ROOT, SERVICES

pytestmark = pytest.mark.integration

PASSWORDS = {service: f"{service}-pw'with\"quotes" for service in SERVICES}
OWNER_PASSWORDS = {service: f"{service}-owner-pw'with\"quotes" for service in SERVICES}
ROLES = [*SERVICES, *(f"{service}_owner" for service in SERVICES)]


@pytest.fixture(scope="module")
def initialised_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("deploy-postgres") / "data") as server:
        env = {
            **os.environ,
            "PATH": f"{postgres_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
            "PGHOST": server.host,
            "PGPORT": str(server.port),
            "POSTGRES_USER": "postgres",
            **{f"{service.upper()}_DB_PASSWORD": pw for service, pw in PASSWORDS.items()},
            **{f"{s.upper()}_OWNER_DB_PASSWORD": pw for s, pw in OWNER_PASSWORDS.items()},
        }
        result = subprocess.run(
            ["sh", str(DEPLOY / "postgres/init-databases.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        yield server


def _url(server: PostgresServer, role: str, database: str) -> str:
    return f"postgresql://{role}@{server.host}:{server.port}/{database}"


@pytest.mark.parametrize("service", SERVICES)
async def test_each_owner_role_owns_its_database_and_applies_its_migrations(
    initialised_server: PostgresServer, service: str
) -> None:
    conn = await asyncpg.connect(_url(initialised_server, f"{service}_owner", service))
    try:
        owner = await conn.fetchval(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", service
        )
        assert owner == f"{service}_owner"
        migrations = ROOT / "services" / service / service / "migrations"
        applied = await apply_migrations(conn, migrations)
        assert "backbone/0001_backbone.sql" in applied
        if migrations.is_dir() and any(migrations.glob("*.sql")):
            assert any(name.startswith(f"{service}/") for name in applied)
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 0
    finally:
        await conn.close()


async def test_a_role_cannot_enter_another_services_database(
    initialised_server: PostgresServer,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(_url(initialised_server, "followup", "booking"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(_url(initialised_server, "followup_owner", "booking"))


async def test_the_runtime_role_connects_but_cannot_change_the_schema(
    initialised_server: PostgresServer,
) -> None:
    conn = await asyncpg.connect(_url(initialised_server, "notify", "notify"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE sneaky (id int)")
    finally:
        await conn.close()


async def test_each_role_logs_in_with_a_password_taken_literally(
    initialised_server: PostgresServer,
) -> None:
    conn = await asyncpg.connect(_url(initialised_server, "postgres", "postgres"))
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolpassword"
            " FROM pg_authid WHERE rolname = ANY($1::text[])",
            ROLES,
        )
    finally:
        await conn.close()
    assert {row["rolname"] for row in rows} == set(ROLES)
    for row in rows:
        assert row["rolcanlogin"]
        assert not row["rolsuper"]
        assert not row["rolcreatedb"]
        assert str(row["rolpassword"]).startswith("SCRAM-SHA-256$"), "a password was set"


def test_the_script_is_plain_posix_sh() -> None:
    script: Path = DEPLOY / "postgres/init-databases.sh"
    assert script.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    assert os.access(script, os.X_OK), "executable, so the postgres image runs it"
