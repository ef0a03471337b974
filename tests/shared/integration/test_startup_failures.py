"""Start-up failures of `python -m <service>` (as compose or a pod starts it), seen from outside:
one that waiting would not fix (a migration the role may not run) is one line and exit 1; a
database or NATS that does not answer yet is waited for, with one log line that names the
variable to check, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devstack.handles import PostgresHandle
from devstack.ports import free_port
from devstack.postgres import drop_database, ensure_database

pytestmark = pytest.mark.integration

SERVICES = ["booking", "followup", "notify", "crisis"]
WEAK_PASSWORD = "weak-pw-s3cret"  # noqa: S105 - a test credential: must never be printed


def _closed_port() -> int:
    # Claimed like the test servers' ports (devstack.ports), so no server another worker starts
    # meanwhile binds it: a port taken under the service made it exit 3 (uvicorn could not bind)
    # before its migration failed, with four workers.
    return free_port()


def _as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}"))


def _env(service: str, **given: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMS_", "TWILIO_", "NATS_", "DATABASE", "MIGRATION_"))
    }
    return (
        env | {"DEVELOPMENT_MODE": "true", f"{service.upper()}_PORT": str(_closed_port())} | given
    )


@pytest.fixture
async def fresh_database(postgres_server: PostgresHandle) -> AsyncIterator[str]:
    """A database of the test's own: each service migrates its own tables into an empty one."""
    name = f"t_startup_{uuid.uuid4().hex[:8]}"
    await ensure_database(postgres_server.url(), name)
    yield postgres_server.url(name)
    await drop_database(postgres_server.url(), name)


@pytest.fixture(scope="module")
async def weak_url(database_url: str) -> AsyncIterator[str]:
    """The module's database as a role that may connect but create nothing."""
    conn = await asyncpg.connect(database_url)
    role = f"weak_{os.getpid()}"
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{WEAK_PASSWORD}'")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()
    yield _as_role(database_url, role, WEAK_PASSWORD)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP ROLE {role}")
    finally:
        await conn.close()


def _run_until_exit(service: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", service],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{service} kept running after a migration it may not run:\n{out[-2000:]}")
    return proc.returncode, out, err


@pytest.mark.parametrize("service", SERVICES)
def test_a_migration_the_role_may_not_run_is_one_line_and_exit_1(
    service: str, weak_url: str
) -> None:
    code, out, err = _run_until_exit(service, _env(service, DATABASE_URL=weak_url))

    assert code == 1, err[-2000:]
    assert "Traceback" not in out + err
    assert err.strip().count("\n") == 0, err
    assert err.startswith(f"{service}: could not start: migrating failed: ")
    assert "InsufficientPrivilegeError" in err
    assert "SQLSTATE 42501" in err
    assert "MIGRATION_DATABASE_URL (else DATABASE_URL)" in err
    assert WEAK_PASSWORD not in out + err
    assert '"startup_failed"' in out, "the log says it too"


async def test_a_failing_migration_file_is_named(
    postgres_server: object, database_url: str
) -> None:
    # A table in the way of the first backbone migration: the file is named, and the process
    # exits rather than trying it again for ever.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS schema_migrations")
        await conn.execute("CREATE TABLE events (in_the_way int)")
    finally:
        await conn.close()
    try:
        code, out, err = _run_until_exit("booking", _env("booking", DATABASE_URL=database_url))
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DROP TABLE events")
        finally:
            await conn.close()

    assert code == 1, err[-2000:]
    assert "Traceback" not in out + err
    assert err.startswith("booking: could not start: migration backbone/0001_backbone.sql failed: ")


def _log_lines_until(
    service: str, env: dict[str, str], event: str, timeout: float = 90
) -> list[dict[str, object]]:
    """The service's JSON log lines until `event` has been logged (and two seconds more), then
    SIGINT; its raw output must hold no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", service],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline, seen_at = time.monotonic() + timeout, None
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline and (seen_at is None or time.monotonic() < seen_at + 2):
            line = proc.stdout.readline()
            if not line:
                time.sleep(0.1)
                continue
            lines.append(line)
            if seen_at is None and f'"event": "{event}"' in line:
                seen_at = time.monotonic()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    raw = "".join(lines)
    assert seen_at is not None, f"{service} never logged {event}:\n{raw[-3000:]}"
    assert "Traceback" not in raw, raw[-3000:]
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.parametrize("service", ["booking", "crisis"])
def test_nats_not_answering_is_waited_for_in_one_line_naming_nats_url(
    service: str, fresh_database: str
) -> None:
    env = _env(service, DATABASE_URL=fresh_database, NATS_URL=f"nats://127.0.0.1:{_closed_port()}")
    logs = _log_lines_until(service, env, "service_waiting_for_infrastructure")

    waiting = next(e for e in logs if e["event"] == "service_waiting_for_infrastructure")
    assert waiting["check"] == "NATS (NATS_URL)"
    errors = [e for e in logs if e["event"] == "nats_error"]
    assert errors
    assert all(e["check"] == "NATS_URL" for e in errors)
    assert len(errors) <= 2, "once per distinct error, not twice a second"


@pytest.mark.parametrize("service", ["followup", "notify"])
def test_a_database_not_answering_is_waited_for_in_one_line_naming_its_variable(
    service: str,
) -> None:
    url = f"postgresql://postgres:{WEAK_PASSWORD}@127.0.0.1:{_closed_port()}/{service}"
    logs = _log_lines_until(service, _env(service, DATABASE_URL=url), "waiting_for_infrastructure")

    waiting = [e for e in logs if "waiting_for_infrastructure" in str(e["event"])]
    assert waiting
    assert all(e["check"] == "the database (DATABASE_URL)" for e in waiting)
    assert all(WEAK_PASSWORD not in json.dumps(e) for e in logs)
