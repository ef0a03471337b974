"""The fault suite's own servers: a PostgreSQL and a NATS that a test may stop, and the four
services on them with retry delays short enough for a test (tests/e2e/harness.py's Suite).

Shared by the package's modules (each fault has a site of its own, so their effects are counted
apart): starting them costs several seconds, once."""

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from devstack.sinks import HttpSink, Sinks, SmtpSink
from tests.e2e.harness import Suite

FAULT_ENV = {
    # A delivery repeated after a crash waits for its lease: 10 s, not the default 2 minutes.
    "NOTIFY_CLAIM_LEASE": "PT10S",
    # Retries (a provider refused) and deferrals (booking's directory gone: no attempt counted)
    # every second or two, and enough attempts to outlast the longest fault here.
    "NOTIFY_RETRY_BASE": "0.5",
    "NOTIFY_RETRY_MAX_DELAY": "2",
    "NOTIFY_CRISIS_RETRY_BASE": "0.5",
    "NOTIFY_CRISIS_RETRY_MAX_DELAY": "2",
    "NOTIFY_MAX_ATTEMPTS": "60",
}


@pytest.fixture(scope="package")
def fault_sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    outbox = tmp_path_factory.mktemp("faults-outbox")
    with SmtpSink(outbox) as smtp, HttpSink(outbox) as http:
        yield Sinks(smtp=smtp, http=http, outbox_dir=outbox)


@pytest.fixture(scope="package")
def fault_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """Not the session's shared server: this one is stopped in the middle of the module."""
    with PostgresServer(tmp_path_factory.mktemp("faults-postgres") / "data") as server:
        yield server


@pytest.fixture(scope="package")
def fault_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("faults-nats")) as server:
        yield server


async def start_suite(
    nats_url: str, postgres_url: str, sinks: Sinks, work_dir: Path, **env: str
) -> Suite:
    suite = Suite(
        nats_url=nats_url,
        postgres_url=postgres_url,
        sinks=sinks,
        work_dir=work_dir,
        extra_env={**FAULT_ENV, **env},
    )
    await suite.start()
    return suite


@pytest.fixture(scope="package")
async def fault_suite(
    fault_nats: NatsServer,
    fault_postgres: PostgresServer,
    fault_sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    suite = await start_suite(
        fault_nats.url, fault_postgres.url(), fault_sinks, tmp_path_factory.mktemp("faults")
    )
    try:
        yield suite
    finally:
        await suite.stop()


async def observer(url: str) -> NatsClient:
    """A NATS connection of the test's own, to read the streams; it outlives NATS restarts."""
    return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)


@pytest.fixture(scope="session")
def fault_figures() -> Iterator[list[dict[str, Any]]]:
    """Each fault's figures; written as JSON to `$FAULTS_REPORT` when set (docs/reliability.md
    is made from it)."""
    figures: list[dict[str, Any]] = []
    yield figures
    if path := os.environ.get("FAULTS_REPORT"):
        Path(path).write_text(json.dumps(figures, indent=2) + "\n")
