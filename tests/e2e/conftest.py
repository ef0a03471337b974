from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.handles import PostgresHandle
from devstack.nats import NatsServer
from devstack.sinks import HttpSink, Sinks, SmtpSink
from opsctl.bus import BusConfig, write_bus_config
from tests.e2e.harness import Suite

SUITE_ENV = {
    "NOTIFY_RETRY_BASE": "0.2",
    "NOTIFY_CRISIS_RETRY_BASE": "0.2",
    "NOTIFY_CLAIM_LEASE": "10",
}
"""Settings of the e2e suite's services: retries after a fraction of a second, not a minute,
and a 10 s lease, so a message a killed notify had claimed is taken again well inside the
tests' 30 s waits (the default 2 minutes would outlive them)."""


@dataclass(frozen=True)
class SecuredNats:
    url: str
    bus: BusConfig


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    """A NATS server of the module's own that knows only the bus's users, as `make run`'s."""
    bus = write_bus_config(tmp_path_factory.mktemp("e2e-bus") / "bus")
    with NatsServer(tmp_path_factory.mktemp("e2e-nats"), config_file=bus.auth_file) as server:
        yield SecuredNats(server.url, bus)


@pytest.fixture(scope="module")
def e2e_sinks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sinks]:
    outbox = tmp_path_factory.mktemp("e2e-outbox")
    with SmtpSink(outbox) as smtp, HttpSink(outbox) as http:
        yield Sinks(smtp=smtp, http=http, outbox_dir=outbox)


@pytest.fixture(scope="module")
async def suite(
    secured_nats: SecuredNats,
    postgres_server: PostgresHandle,
    e2e_sinks: Sinks,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Suite]:
    """The suite of the test module; a module's `SUITE_EXTRA_ENV` adds settings of its own."""
    work_dir: Path = tmp_path_factory.mktemp("e2e")
    running = Suite(
        nats_url=secured_nats.url,
        postgres_url=postgres_server.url(),
        sinks=e2e_sinks,
        work_dir=work_dir,
        extra_env={**SUITE_ENV, **getattr(request.module, "SUITE_EXTRA_ENV", {})},
        bus=secured_nats.bus,
    )
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
