"""Faults are not deliveries: a consumer waits out a database or NATS outage, loses nothing.

These tests stop servers of their own (a PostgreSQL and a NATS just for this module), so the
session's servers, which other tests use, are never disturbed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import httpx
import nats
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.codes import RiskLevel, RiskSource
from counseling_shared.db import create_pool
from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import IntegrationEvent, RiskFlagged
from counseling_shared.inbox import InboxConsumer, dispatch
from counseling_shared.jetstream import ConsumerSpec, ensure_streams
from counseling_shared.migrations import apply_migrations
from counseling_shared.service import Route, ServiceDefinition, create_app
from counseling_shared.settings import ServiceSettings
from counseling_shared.unit_of_work import UnitOfWork
from devstack.nats import NatsServer
from devstack.postgres import PostgresServer, ensure_database
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import PROBE_MIGRATIONS, eventually, served, stop

pytestmark = pytest.mark.integration

# Main's budget for an infrastructure failure was JetStream's max_deliver with a 1 s nak; with
# these specs it is two deliveries, well under a second. The outages below last longer.
OUTAGE_SECONDS = 4.0


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with PostgresServer(tmp_path_factory.mktemp("own-postgres") / "data") as server:
        yield server


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(tmp_path_factory.mktemp("own-nats")) as server:
        yield server


@pytest.fixture
async def database(own_postgres: PostgresServer) -> str:
    own_postgres.start()  # a test before may have left it stopped
    name = f"outage_{uuid4().hex[:8]}"
    await ensure_database(own_postgres.url(), name)
    return own_postgres.url(name)


@pytest.fixture
async def js(own_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    own_nats.start()
    client = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    context = client.jetstream(timeout=5.0)
    await ensure_streams(context)
    yield context
    await client.close()


def flag_service(database_url: str, nats_url: str, site: UUID) -> ServiceDefinition:
    """A service that opens one row per RiskFlagged, like crisis opening an alert."""

    async def open_alert(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, RiskFlagged)
        await uow.conn.execute(
            "INSERT INTO staff_seen (event_id, staff_id) VALUES ($1, $2)",
            envelope.id,
            event.flag_id,
        )

    spec = ConsumerSpec(
        f"probe-flags-{uuid4().hex[:8]}",
        "BOOKING",
        [f"booking.{site}.RiskFlagged"],
        max_deliver=2,
        backoff=(0.2,),
    )
    settings = ServiceSettings(
        service_name="probe",
        nats_url=nats_url,
        database_url=database_url,
        api_keys="probe-key",
        otel_exporter_otlp_endpoint=None,
        outage_backoff_max=0.5,
    )
    return ServiceDefinition(
        name="probe",
        settings=settings,
        migrations_dir=PROBE_MIGRATIONS,
        routes=[Route(spec, dispatch({RiskFlagged: open_alert}))],
    )


def risk_flag(site: UUID) -> Envelope:
    event = RiskFlagged(
        flag_id=uuid4(),
        client_id=uuid4(),
        site_id=site,
        level=RiskLevel.HIGH,
        source=RiskSource.BOOKING,
        flagged_at=datetime.now(UTC),
    )
    return wrap(event, source="booking", subject=event.flag_id)


async def publish(js: JetStreamContext, envelope: Envelope) -> None:
    await js.publish(
        envelope.nats_subject, envelope.encode(), headers={"Nats-Msg-Id": str(envelope.id)}
    )


async def readiness(client: httpx.AsyncClient) -> int:
    return (await client.get("/readyz")).status_code


async def count(database_url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        found: int = await conn.fetchval(sql, *args)
        return found
    finally:
        await conn.close()


async def alerts_for(database_url: str, envelope: Envelope) -> int:
    return await count(
        database_url, "SELECT count(*) FROM staff_seen WHERE event_id = $1", envelope.id
    )


async def test_a_risk_flag_sent_while_the_database_is_down_is_handled_once_when_it_is_back(
    own_postgres: PostgresServer, own_nats: NatsServer, database: str, js: JetStreamContext
) -> None:
    site = uuid4()
    app = create_app(flag_service(database, own_nats.url, site))
    flag = risk_flag(site)

    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        await eventually(lambda: _is(readiness(client), 200), timeout=20.0)

        own_postgres.stop()
        await publish(js, flag)
        await eventually(lambda: _is(readiness(client), 503), timeout=20.0)
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, longer than main's budget
        assert await readiness(client) == 503
        own_postgres.start()

        await eventually(lambda: alerts_for(database, flag), timeout=30.0)
        await eventually(lambda: _is(readiness(client), 200), timeout=20.0)

    assert await alerts_for(database, flag) == 1
    assert await count(database, "SELECT count(*) FROM dead_letters") == 0
    assert await count(database, "SELECT count(*) FROM inbox_failures") == 0


async def test_a_service_started_while_its_database_is_down_waits_and_becomes_ready(
    own_postgres: PostgresServer, own_nats: NatsServer, database: str, js: JetStreamContext
) -> None:
    site = uuid4()
    app = create_app(flag_service(database, own_nats.url, site))
    flag = risk_flag(site)
    own_postgres.stop()

    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert await readiness(client) == 503
        await publish(js, flag)
        await asyncio.sleep(1.0)  # a few start-up attempts fail meanwhile
        assert await readiness(client) == 503
        own_postgres.start()

        await eventually(lambda: _is(readiness(client), 200), timeout=30.0)
        await eventually(lambda: alerts_for(database, flag), timeout=20.0)

    assert await alerts_for(database, flag) == 1


async def test_a_service_started_while_nats_is_down_waits_and_becomes_ready(
    own_nats: NatsServer, database: str, js: JetStreamContext
) -> None:
    site = uuid4()
    app = create_app(flag_service(database, own_nats.url, site))
    flag = risk_flag(site)
    own_nats.stop()

    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert await readiness(client) == 503
        own_nats.start()

        await eventually(lambda: _is(readiness(client), 200), timeout=30.0)
        await eventually(lambda: _published(js, flag), timeout=20.0)
        await eventually(lambda: alerts_for(database, flag), timeout=20.0)

    assert await alerts_for(database, flag) == 1


async def _published(js: JetStreamContext, envelope: Envelope) -> bool:
    # The test's own client reconnects by itself once the server is back.
    try:
        await publish(js, envelope)
    except (nats.errors.Error, OSError):
        return False
    return True


async def _is(answer: Awaitable[int], expected: int) -> bool:
    return await answer == expected


async def test_a_connection_lost_inside_a_handler_is_not_counted_against_the_message(
    own_postgres: PostgresServer, own_nats: NatsServer, database: str, js: JetStreamContext
) -> None:
    site = uuid4()
    definition = flag_service(database, own_nats.url, site)
    route = definition.routes[0]
    entered, release = asyncio.Event(), asyncio.Event()
    attempts = 0

    async def slow_open_alert(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            entered.set()
            await release.wait()  # the database goes away while the handler holds its batch
        await route.handler(uow, envelope, event)

    conn = await asyncpg.connect(database)
    try:
        await apply_migrations(conn, PROBE_MIGRATIONS)
    finally:
        await conn.close()
    pool = await create_pool(database, max_size=4)
    consumer = InboxConsumer(
        pool=pool,
        js=js,
        spec=route.spec,
        handler=slow_open_alert,
        registry=REGISTRY,
        source="probe",
        clock=SystemClock(),
        fetch_timeout=0.2,
        outage_backoff=(0.1, 0.5),
    )
    flag = risk_flag(site)
    task = asyncio.create_task(consumer.run())
    try:
        await publish(js, flag)
        await asyncio.wait_for(entered.wait(), 20.0)
        own_postgres.stop()
        release.set()
        await eventually(lambda: _waiting(consumer), timeout=20.0)
        await asyncio.sleep(1.0)  # several probes fail meanwhile
        own_postgres.start()
        await eventually(lambda: alerts_for(database, flag), timeout=30.0)
        await eventually(lambda: _resumed(consumer), timeout=20.0)
    finally:
        await stop(task)
        await pool.close()

    assert attempts == 2, "the handler ran once before the outage and once after"
    assert await alerts_for(database, flag) == 1
    assert await count(database, "SELECT count(*) FROM inbox_failures") == 0
    assert await count(database, "SELECT count(*) FROM dead_letters") == 0


async def _waiting(consumer: InboxConsumer) -> bool:
    return consumer.waiting


async def _resumed(consumer: InboxConsumer) -> bool:
    return consumer.ready


async def test_a_command_sent_while_the_database_is_down_is_refused_503_and_runs_once_after(
    own_postgres: PostgresServer, own_nats: NatsServer, database: str, js: JetStreamContext
) -> None:
    # A client (and the fault suite's load) retries on 503 with its Idempotency-Key; a 500
    # would say the request itself was wrong.
    site = uuid4()
    app = create_app(probe_definition(database_url=database, nats_url=own_nats.url, site_id=site))
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": f"k-{uuid4()}"}
    body = {"site_id": str(site), "name": "Ana Ruiz", "role": "counselor", "email": "a@c.example"}

    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        await eventually(lambda: _is(readiness(client), 200), timeout=20.0)
        own_postgres.stop()
        during = [(await client.post("/staff", json=body, headers=headers)) for _ in range(3)]
        own_postgres.start()
        after = await _eventually_answered(client, body, headers)

    assert [(r.status_code, r.headers["content-type"]) for r in during] == [
        (503, "application/problem+json")
    ] * 3
    assert after.status_code == 201
    assert await count(database, "SELECT count(*) FROM staff WHERE site_id = $1", site) == 1


async def _eventually_answered(
    client: httpx.AsyncClient, body: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + 30.0
    while True:
        response = await client.post("/staff", json=body, headers=headers)
        if response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.2)
