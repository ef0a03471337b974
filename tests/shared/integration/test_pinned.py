"""One replica per durable (docs/reliability.md): of several inbox consumers on one durable, the
server delivers to the one it pinned, so an aggregate's events commit in stream order across
replicas; a standby takes over when the pinned one dies (within the durable's bound) or stops
(at once), and nothing is handled twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.inbox import InboxConsumer
from counseling_shared.jetstream import (
    JS_API,
    STREAMS,
    ConsumerSpec,
    consumer_config,
    ensure_consumer,
    ensure_streams,
)
from counseling_shared.unit_of_work import UnitOfWork
from devstack.handles import NatsHandle
from devstack.nats import NatsCluster
from tests.shared.integration.support import eventually, replica_fetch, session_completed, stop
from tests.shared.integration.test_inbox import consumer_for, publish, rows_for, spec_for

pytestmark = pytest.mark.integration

Handled = Callable[[UnitOfWork, Envelope, IntegrationEvent], Awaitable[None]]


@contextlib.asynccontextmanager
async def connection(server: NatsHandle | list[str]) -> AsyncIterator[NatsClient]:
    """A replica's own NATS connection (closed without draining to "kill" it)."""
    servers = server if isinstance(server, list) else [server.url]
    client = await nats.connect(servers=servers)
    try:
        yield client
    finally:
        if not client.is_closed:
            await client.close()


class Replicas:
    """Inbox consumers on one durable, each on its own connection, all recording what they
    handled: (replica, appointment, was the aggregate's earlier event committed, or handled in
    the same transaction, when it started)."""

    def __init__(self, pool: asyncpg.Pool[Any], spec: ConsumerSpec) -> None:
        self.pool = pool
        self.spec = spec
        self.slow: dict[UUID, float] = {}  # appointment → seconds its handler takes
        self.stuck: set[tuple[str, UUID]] = set()  # (replica, appointment): never finishes
        self.before: dict[UUID, UUID] = {}  # appointment → the earlier one of its aggregate
        self.handled: list[tuple[str, UUID, bool]] = []
        self.entered: dict[UUID, asyncio.Event] = {}

    def handler(self, name: str) -> Handled:
        async def handle(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
            assert isinstance(event, SessionCompleted)
            appointment = event.appointment_id
            self.entered.setdefault(appointment, asyncio.Event()).set()
            earlier = self.before.get(appointment)
            # Seen from this batch's transaction: the earlier event committed, or is handled
            # in this same transaction before it (they then commit together).
            committed = earlier is None or await self._committed(earlier, uow.conn)
            await asyncio.sleep(self.slow.get(appointment, 0.0))
            if (name, appointment) in self.stuck:
                await asyncio.Event().wait()
            await uow.conn.execute(
                "INSERT INTO sessions_seen (consumer, event_id, appointment_id) "
                "VALUES ($1, $2, $3)",
                self.spec.durable,
                envelope.id,
                appointment,
            )
            self.handled.append((name, appointment, committed))

        return handle

    async def _committed(self, appointment: UUID, conn: Any = None) -> bool:
        found = await (conn or self.pool).fetchval(
            "SELECT count(*) FROM sessions_seen WHERE consumer = $1 AND appointment_id = $2",
            self.spec.durable,
            appointment,
        )
        return bool(found)

    async def entered_handler(self, appointment: UUID, timeout: float = 10.0) -> None:
        await asyncio.wait_for(
            self.entered.setdefault(appointment, asyncio.Event()).wait(), timeout
        )

    async def committed(self, appointment: UUID) -> bool:
        return await self._committed(appointment)


def consumer(
    pool: asyncpg.Pool[Any], nc: NatsClient, replicas: Replicas, name: str, batch_size: int = 64
) -> InboxConsumer:
    made = consumer_for(pool, nc.jetstream(timeout=5.0), replicas.spec, replicas.handler(name))
    made._batch_size = batch_size
    made._standby_poll = 0.2
    return made


async def running(made: InboxConsumer) -> asyncio.Task[None]:
    task = asyncio.create_task(made.run())
    await eventually(lambda: _true(made.bound))
    return task


async def _true(value: bool) -> bool:
    return value


async def kill(nc: NatsClient, task: asyncio.Task[None]) -> None:
    """kill -9, as the bus sees it: the connection drops, nothing is nak'ed, nobody unpins."""
    await nc.close()
    await stop(task)


def two_of_one_aggregate(site: UUID) -> tuple[SessionCompleted, SessionCompleted, UUID]:
    return session_completed(site), session_completed(site), uuid4()


async def test_an_aggregates_later_event_does_not_commit_before_the_earlier_on_another_replica(
    pool: asyncpg.Pool[Any], js: JetStreamContext, nats_server: NatsHandle
) -> None:
    # Booked is fetched by one replica and slow to handle; Cancelled of the same appointment
    # comes a moment later. Unpinned, the other (idle) replica fetched and committed it first.
    site = uuid4()
    replicas = Replicas(pool, spec_for(site))
    first, second, aggregate = two_of_one_aggregate(site)
    replicas.slow[first.appointment_id] = 2.0
    replicas.before[second.appointment_id] = first.appointment_id

    async with connection(nats_server) as nc_a, connection(nats_server) as nc_b:
        tasks = [
            await running(consumer(pool, nc_a, replicas, "a", batch_size=1)),
            await running(consumer(pool, nc_b, replicas, "b", batch_size=1)),
        ]
        try:
            await publish(js, wrap(first, source="booking", subject=aggregate))
            await replicas.entered_handler(first.appointment_id)
            await publish(js, wrap(second, source="booking", subject=aggregate))
            await eventually(lambda: replicas.committed(first.appointment_id), timeout=15.0)
            await eventually(lambda: replicas.committed(second.appointment_id), timeout=15.0)
        finally:
            for task in tasks:
                await stop(task)

    assert [a for _, a, _ in replicas.handled] == [first.appointment_id, second.appointment_id]
    assert replicas.handled[1][2], "the later event was handled before the earlier committed"
    assert await rows_for(pool, replicas.spec) == {
        first.appointment_id: 1,
        second.appointment_id: 1,
    }


async def test_a_standby_takes_over_from_a_killed_replica_mid_batch_in_stream_order(
    pool: asyncpg.Pool[Any], js: JetStreamContext, nats_server: NatsHandle
) -> None:
    # An urgent durable (3 s pin, 6 s ack_wait). The pinned replica dies holding Booked; the
    # standby must not handle Cancelled (published meanwhile) before Booked comes back to it.
    site = uuid4()
    spec = replace(spec_for(site), retry_overload=True)
    replicas = Replicas(pool, spec)
    warm = session_completed(site)
    first, second, aggregate = two_of_one_aggregate(site)
    replicas.stuck.add(("a", first.appointment_id))  # until killed
    replicas.before[second.appointment_id] = first.appointment_id

    async with connection(nats_server) as nc_a, connection(nats_server) as nc_b:
        task_a = await running(consumer(pool, nc_a, replicas, "a"))
        await publish(js, wrap(warm, source="booking", subject=uuid4()))
        await eventually(lambda: replicas.committed(warm.appointment_id))  # a is pinned
        task_b = await running(consumer(pool, nc_b, replicas, "b"))
        try:
            await publish(js, wrap(first, source="booking", subject=aggregate))
            await replicas.entered_handler(first.appointment_id)
            await kill(nc_a, task_a)
            killed = time.monotonic()
            await publish(js, wrap(second, source="booking", subject=aggregate))
            await eventually(lambda: replicas.committed(second.appointment_id), timeout=20.0)
            took = time.monotonic() - killed
        finally:
            await stop(task_b)

    assert [(n, a) for n, a, _ in replicas.handled[-2:]] == [
        ("b", first.appointment_id),
        ("b", second.appointment_id),
    ]
    assert replicas.handled[-1][2], "Cancelled was handled before Booked committed"
    # What the dead one held comes back after ack_wait; the pin had moved after 3 s.
    assert took < spec.ack_seconds + 2.5, took
    assert await rows_for(pool, spec) == {
        warm.appointment_id: 1,
        first.appointment_id: 1,
        second.appointment_id: 1,
    }


async def test_a_standby_takes_over_from_a_killed_idle_replica_within_the_pin_timeout(
    pool: asyncpg.Pool[Any], js: JetStreamContext, nats_server: NatsHandle
) -> None:
    site = uuid4()
    spec = replace(spec_for(site), retry_overload=True)  # a 3 s pin
    replicas = Replicas(pool, spec)
    warm, page = session_completed(site), session_completed(site)

    async with connection(nats_server) as nc_a, connection(nats_server) as nc_b:
        task_a = await running(consumer(pool, nc_a, replicas, "a"))
        await publish(js, wrap(warm, source="booking", subject=uuid4()))
        await eventually(lambda: replicas.committed(warm.appointment_id))
        task_b = await running(consumer(pool, nc_b, replicas, "b"))
        try:
            await kill(nc_a, task_a)
            killed = time.monotonic()
            # Not in the instant it died: a message the server delivered to its last pull
            # then comes back only after ack_wait (test above).
            await asyncio.sleep(0.5)
            await publish(js, wrap(page, source="booking", subject=uuid4()))
            await eventually(lambda: replicas.committed(page.appointment_id), timeout=15.0)
            took = time.monotonic() - killed
        finally:
            await stop(task_b)

    assert replicas.handled[-1][:2] == ("b", page.appointment_id)
    assert took < spec.pin_seconds + 1.5, took
    assert await rows_for(pool, spec) == {warm.appointment_id: 1, page.appointment_id: 1}


async def test_a_standby_takes_over_at_once_from_a_replica_that_stops(
    pool: asyncpg.Pool[Any], js: JetStreamContext, nats_server: NatsHandle
) -> None:
    # A rolling deploy: the stopping replica settles its batch, then unpins.
    site = uuid4()
    spec = spec_for(site)  # a 10 s pin: waiting it out would show
    replicas = Replicas(pool, spec)
    warm, next_one = session_completed(site), session_completed(site)

    async with connection(nats_server) as nc_a, connection(nats_server) as nc_b:
        a = consumer(pool, nc_a, replicas, "a")
        task_a = await running(a)
        await publish(js, wrap(warm, source="booking", subject=uuid4()))
        await eventually(lambda: replicas.committed(warm.appointment_id))
        task_b = await running(consumer(pool, nc_b, replicas, "b"))
        try:
            a.stop_fetching()
            await asyncio.wait_for(task_a, 5.0)
            stopped = time.monotonic()
            await publish(js, wrap(next_one, source="booking", subject=uuid4()))
            await eventually(lambda: replicas.committed(next_one.appointment_id), timeout=15.0)
            took = time.monotonic() - stopped
        finally:
            await stop(task_b)

    assert replicas.handled[-1][:2] == ("b", next_one.appointment_id)
    assert took < 1.5, took
    assert await rows_for(pool, spec) == {warm.appointment_id: 1, next_one.appointment_id: 1}


async def _raw_info(js: JetStreamContext, spec: ConsumerSpec) -> dict[str, Any]:
    reply = await js._nc.request(f"{JS_API}.CONSUMER.INFO.{spec.stream}.{spec.durable}", b"")
    info: dict[str, Any] = json.loads(reply.data)
    return info


async def test_a_durable_made_before_pinning_is_pinned_in_place_and_keeps_its_position(
    js: JetStreamContext,
) -> None:
    # What the previous release created: the same durable without a priority group.
    site = uuid4()
    spec = replace(spec_for(site), ack_wait=1.0)
    await js.add_consumer(spec.stream, consumer_config(spec))
    envelopes = [wrap(session_completed(site), source="booking", subject=uuid4()) for _ in "123"]
    for envelope in envelopes:
        await publish(js, envelope)
    old_replica = await js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
    acked, _ = await old_replica.fetch(2, timeout=5.0)
    await acked.ack()
    await old_replica.unsubscribe()
    await asyncio.sleep(0.2)
    floor = (await _raw_info(js, spec))["ack_floor"]

    await ensure_consumer(js, spec)

    info = await _raw_info(js, spec)
    assert info["config"]["priority_policy"] == "pinned_client"
    assert info["ack_floor"] == floor
    # The unacked one comes back (after ack_wait, before the next), the acked one never.
    got = await replica_fetch(js, spec, 10, timeout=5.0)
    got += await replica_fetch(js, spec, 10, timeout=2.0)
    assert [REGISTRY.decode(m.data)[0].id for m in got] == [envelopes[1].id, envelopes[2].id]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("pinned-cluster")) as running:
        yield running


async def test_a_consumer_leader_change_does_not_let_a_standby_overtake_the_batch_in_hand(
    pool: asyncpg.Pool[Any], cluster: NatsCluster
) -> None:
    # In a 3-node cluster the pin is the consumer leader's alone: a new leader pins whoever
    # pulls first, while the old pinned replica still holds Booked. The new pinned one waits
    # until it is settled (`Puller._after_takeover`) before handling Cancelled.
    async with (
        connection(cluster.urls) as nc,
        connection(cluster.urls) as nc_a,
        connection(cluster.urls) as nc_b,
    ):
        js = nc.jetstream(timeout=5.0)
        await ensure_streams(js, replicas=3, specs=[s for s in STREAMS if s.name == "BOOKING"])
        site = uuid4()
        spec = spec_for(site)
        replicas = Replicas(pool, spec)
        warm = session_completed(site)
        first, second, aggregate = two_of_one_aggregate(site)
        replicas.slow[first.appointment_id] = 3.0
        replicas.before[second.appointment_id] = first.appointment_id
        task_a = await running(consumer(pool, nc_a, replicas, "a"))
        await publish(js, wrap(warm, source="booking", subject=uuid4()))
        await eventually(lambda: replicas.committed(warm.appointment_id), timeout=15.0)
        task_b = await running(consumer(pool, nc_b, replicas, "b"))
        try:
            await publish(js, wrap(first, source="booking", subject=aggregate))
            await replicas.entered_handler(first.appointment_id)
            stepdown = f"{JS_API}.CONSUMER.LEADER.STEPDOWN.{spec.stream}.{spec.durable}"
            answer = json.loads((await nc.request(stepdown, b"", timeout=5.0)).data)
            assert "error" not in answer, answer
            await publish(js, wrap(second, source="booking", subject=aggregate))
            await eventually(lambda: replicas.committed(first.appointment_id), timeout=20.0)
            await eventually(lambda: replicas.committed(second.appointment_id), timeout=20.0)
        finally:
            await stop(task_a)
            await stop(task_b)

    assert [a for _, a, _ in replicas.handled[-2:]] == [first.appointment_id, second.appointment_id]
    assert replicas.handled[-1][2], "Cancelled was handled before Booked committed"
    assert await rows_for(pool, spec) == {
        warm.appointment_id: 1,
        first.appointment_id: 1,
        second.appointment_id: 1,
    }
