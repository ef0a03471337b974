"""Servers for the whole test session (NATS, PostgreSQL) and sinks for each test.

Each server comes from, in this order: the NATS_URL / DATABASE_URL environment variables
(then it cannot be restarted or killed); Docker via testcontainers when an engine answers; else
the embedded binaries from devstack. Tests that kill or restart a server take one of their own
(`own_nats_server`, `own_postgres_server`: always embedded), so they run whatever is set.
"""

import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id  # pytest 9: an item's id, set below
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from devstack.handles import NatsHandle, PostgresHandle
from devstack.nats import NatsServer
from devstack.ports import free_port
from devstack.postgres import PostgresServer, drop_database, ensure_database, with_database
from devstack.procs import wait_until
from devstack.sinks import HttpSink, Sinks, SmtpSink
from tests.minute_edge import clear_of_a_minutes_edge

# The tests run services with the development key (`dev-admin-key`), which a service refuses
# unless it is told explicitly that this is a development stack.
os.environ.setdefault("DEVELOPMENT_MODE", "true")

NATS_IMAGE = os.environ.get("NATS_IMAGE", "nats:latest")
POSTGRES_IMAGE = os.environ.get("POSTGRES_IMAGE", "postgres:17")

# One Hypothesis profile for the whole suite: a busy 2-core machine must not fail an example
# for being slow (no deadline, no `too_slow` health check); in CI (`CI` set) the examples are
# derandomized, so a red run replays the same examples.
hypothesis_settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "ci", parent=hypothesis_settings.get_profile("suite"), derandomize=True, database=None
)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "suite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test gets an id of its own. schemathesis names an operation's test
    `test_x[GET /sites]` but leaves it the id `test_x`; pytest-xdist keys its work by id, so
    under `make test` (`-n`) only one operation of each document ran. The operation goes into
    the id, and two tests with one id stop the run instead of hiding each other."""
    for item in items:
        suffix = item.name[item.name.find("[") :] if "[" in item.name else ""
        if suffix and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)
    repeated = sorted(nodeid for nodeid, n in Counter(i.nodeid for i in items).items() if n > 1)
    if repeated:
        raise pytest.UsageError("tests sharing an id (only one would run):\n" + "\n".join(repeated))


class ExternalNats:
    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> None:
        pytest.skip("NATS_URL is set: this NATS server is not ours to start")

    def kill(self) -> None:
        pytest.skip("NATS_URL is set: this NATS server is not ours to kill")

    def restart(self) -> None:
        pytest.skip("NATS_URL is set: this NATS server is not ours to restart")


class ExternalPostgres:
    def __init__(self, url: str) -> None:
        self._url = url

    def url(self, database: str = "postgres") -> str:
        return with_database(self._url, database)

    def start(self) -> None:
        pytest.skip("DATABASE_URL is set: this PostgreSQL is not ours to start")

    def kill(self) -> None:
        pytest.skip("DATABASE_URL is set: this PostgreSQL is not ours to kill")

    def restart(self) -> None:
        pytest.skip("DATABASE_URL is set: this PostgreSQL is not ours to restart")


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


class ContainerNats:
    """NATS in Docker, on a fixed host port so a restarted container keeps its URL."""

    def __init__(self) -> None:
        from testcontainers.nats import NatsContainer

        # The image's own config is replaced, so JetStream needs -js (it is off by default).
        self._container: Any = (
            NatsContainer(NATS_IMAGE)
            .with_command("-js -sd /data")
            .with_bind_ports(4222, free_port())
        )
        self._container.start()
        host, port = self._container.nats_host_and_port()
        self.url = f"nats://{host}:{port}"

    def start(self) -> None:
        self._container.get_wrapped_container().start()
        self._wait()

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()

    def restart(self) -> None:
        self._container.get_wrapped_container().restart()
        self._wait()

    def close(self) -> None:
        self._container.stop()

    def _wait(self) -> None:
        host, port = self._container.nats_host_and_port()
        wait_until(lambda: _nats_greets(host, port), 60, "NATS container")


def _nats_greets(host: str, port: int) -> bool:
    # Docker's port proxy accepts connections even while the server is down; only a
    # NATS INFO line proves the server is there.
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(4) == b"INFO"
    except OSError:
        return False


class ContainerPostgres:
    """PostgreSQL in Docker, on a fixed host port so a restarted container keeps its URL."""

    def __init__(self) -> None:
        from testcontainers.postgres import PostgresContainer

        self._container: Any = (
            PostgresContainer(
                POSTGRES_IMAGE,
                username="postgres",
                password="postgres",  # noqa: S106 (a throwaway test container)
                dbname="postgres",
                driver=None,
            )
            .with_command("postgres -c max_connections=200")
            .with_bind_ports(5432, free_port())
        )
        self._container.start()
        self._server_url: str = self._container.get_connection_url()

    def url(self, database: str = "postgres") -> str:
        return with_database(self._server_url, database)

    def start(self) -> None:
        self._container.get_wrapped_container().start()
        self._wait()

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()

    def restart(self) -> None:
        self._container.get_wrapped_container().restart()
        self._wait()

    def close(self) -> None:
        self._container.stop()

    def _wait(self) -> None:
        check = "pg_isready -U postgres -h 127.0.0.1"
        container = self._container.get_wrapped_container()
        wait_until(lambda: container.exec_run(check).exit_code == 0, 60, "PostgreSQL container")
        time.sleep(0.5)  # pg_isready answers a moment before the first query would


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsHandle]:
    if url := os.environ.get("NATS_URL"):
        yield ExternalNats(url)
    elif docker_answers():
        container = ContainerNats()
        yield container
        container.close()
    else:
        with NatsServer(tmp_path_factory.mktemp("nats")) as server:
            yield server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHandle]:
    if url := os.environ.get("DATABASE_URL"):
        yield ExternalPostgres(url)
    elif docker_answers():
        container = ContainerPostgres()
        yield container
        container.close()
    else:
        with PostgresServer(tmp_path_factory.mktemp("postgres") / "data") as server:
            yield server


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """An embedded NATS server of the test's own, whatever NATS_URL says: for tests that kill
    or restart NATS (never skipped for want of a server they may stop)."""
    with NatsServer(tmp_path / "own-nats") as server:
        yield server


@pytest.fixture
def own_postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """An embedded PostgreSQL of the test's own, whatever DATABASE_URL says (see above)."""
    with PostgresServer(tmp_path / "own-postgres" / "data") as server:
        yield server


@pytest.fixture(scope="module")
async def database_url(
    postgres_server: PostgresHandle, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A fresh database for the test module, dropped afterwards."""
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    name = f"t_{module[:40]}_{uuid.uuid4().hex[:8]}"
    await ensure_database(postgres_server.url(), name)
    yield postgres_server.url(name)
    await drop_database(postgres_server.url(), name)


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[Sinks]:
    """An SMTP sink and an SMS/messaging HTTP sink, filing under `<tmp>/outbox`."""
    outbox = tmp_path / "outbox"
    with SmtpSink(outbox) as smtp, HttpSink(outbox) as http:
        yield Sinks(smtp=smtp, http=http, outbox_dir=outbox)


@pytest.fixture(scope="module")
def nats_url(nats_server: NatsHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server of the test module's own, so durable consumers of one module never see
    another module's events. Embedded servers start in a fraction of a second; with a server
    given by NATS_URL or in Docker the session's server is shared."""
    if not isinstance(nats_server, NatsServer):
        yield nats_server.url
        return
    with NatsServer(tmp_path_factory.mktemp("nats-module")) as server:
        yield server.url


@pytest.fixture
async def minute_edge_cleared() -> None:
    """For a test that bursts past a per-minute rate limit first thing
    (`pytest.mark.usefixtures`): it starts clear of a minute's edge (`tests.minute_edge`)."""
    await clear_of_a_minutes_edge()


@pytest.fixture(autouse=True)
def _audit_entries_say_what_was_answered(request: pytest.FixtureRequest) -> Iterator[None]:
    """A change's audit entry commits with the change, before its answer is sent: fail any
    test during which a service in this process recorded another status than it answered
    (`audit_status_differs`), unless the test provokes exactly that."""
    from counseling_shared.metrics import AUDIT_STATUS_MISMATCHES

    def total() -> float:
        return sum(
            sample.value
            for metric in AUDIT_STATUS_MISMATCHES.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )

    before = total()
    yield
    if request.node.get_closest_marker("audit_status_differs") is None:
        assert total() == before, "an audit entry recorded another status than the answer"
