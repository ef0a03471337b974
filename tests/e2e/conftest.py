from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack.handles import PostgresHandle
from devstack.sinks import HttpSink, Sinks, SmtpSink
from tests.e2e.harness import Suite

SUITE_ENV = {
    "NOTIFY_RETRY_BASE": "0.2",
    "NOTIFY_CRISIS_RETRY_BASE": "0.2",
    "NOTIFY_CLAIM_LEASE": "10",
}
"""Settings of the e2e suite's services: retries after a fraction of a second, not a minute,
and a 10 s lease, so a message a killed notify had claimed is taken again well inside the
tests' 30 s waits (the default 2 minutes would outlive them)."""


@pytest.fixture(scope="module")
def e2e_sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    outbox = tmp_path_factory.mktemp("e2e-outbox")
    with SmtpSink(outbox) as smtp, HttpSink(outbox) as http:
        yield Sinks(smtp=smtp, http=http, outbox_dir=outbox)


@pytest.fixture(scope="module")
async def suite(
    nats_url: str,
    postgres_server: PostgresHandle,
    e2e_sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    work_dir: Path = tmp_path_factory.mktemp("e2e")
    running = Suite(
        nats_url=nats_url,
        postgres_url=postgres_server.url(),
        sinks=e2e_sinks,
        work_dir=work_dir,
        extra_env=SUITE_ENV,
    )
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
