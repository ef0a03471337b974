"""Shutdown drains the consumers: no more fetching, the batch in hand finishes within the
runtime's deadline, and what is still in hand after it is nak'ed, so another replica gets it
at once instead of after ack_wait (30 s: every rolling deploy delayed an in-flight page)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.codes import StaffRole
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import IntegrationEvent, StaffRegistered
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.service import Route, Runtime
from counseling_shared.unit_of_work import UnitOfWork
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import probe_definition
from tests.shared.integration.support import eventually, replica_fetch, session_completed, stop
from tests.shared.integration.test_inbox import consumer_for, envelope_of, publish, spec_for

pytestmark = pytest.mark.integration

ACK_WAIT = 30.0


async def _taken_by_another_replica(js: JetStreamContext, spec: ConsumerSpec) -> float:
    """Seconds until another replica, bound to the same durable, is given the message."""
    started = time.monotonic()
    [_] = await replica_fetch(js, spec, 1, timeout=2.0)  # the stopped one unpinned
    return time.monotonic() - started


async def test_a_consumer_cancelled_mid_batch_gives_its_messages_back_at_once(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = replace(spec_for(site), ack_wait=ACK_WAIT)
    entered = asyncio.Event()

    async def stuck(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        entered.set()
        await asyncio.Event().wait()  # a provider that went silent

    consumer = consumer_for(pool, js, spec, stuck)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _true(lambda: consumer.bound))
        await publish(js, envelope_of(session_completed(site)))
        await asyncio.wait_for(entered.wait(), 10.0)
        consumer.stop_fetching()
        await asyncio.sleep(0.3)  # the drain deadline passes
    finally:
        await stop(task)

    assert await _taken_by_another_replica(js, spec) < 2.0


def _staff_event(site: UUID) -> Envelope:
    staff_id = uuid4()
    event = StaffRegistered(
        staff_id=staff_id,
        site_id=site,
        name="On Call",
        role=StaffRole.COUNSELOR,
        email="oncall@example.org",
        locale="en",
    )
    return wrap(event, source="booking", subject=staff_id)


async def _runtime_with(
    migrated_url: str, nats_url: str, site: UUID, handler: Callable[..., Awaitable[None]]
) -> tuple[Runtime, ConsumerSpec]:
    definition = probe_definition(database_url=migrated_url, nats_url=nats_url, site_id=site)
    spec = replace(definition.routes[0].spec, ack_wait=ACK_WAIT)
    definition.routes = [Route(spec, handler)]
    runtime = Runtime(definition, SystemClock())
    await runtime.start()
    await eventually(lambda: _true(lambda: all(c.bound for c in runtime.consumers)))
    return runtime, spec


async def test_a_runtime_stopped_mid_batch_naks_what_it_could_not_finish(
    migrated_url: str, nats_server: NatsHandle, js: JetStreamContext
) -> None:
    site = uuid4()
    entered = asyncio.Event()

    async def stuck(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        entered.set()
        await asyncio.Event().wait()

    runtime, spec = await _runtime_with(migrated_url, nats_server.url, site, stuck)
    try:
        envelope = _staff_event(site)
        await publish(js, envelope)
        await asyncio.wait_for(entered.wait(), 10.0)
        runtime.drain_timeout = 0.5
    finally:
        await runtime.stop()

    assert await _taken_by_another_replica(js, spec) < 2.0


async def test_a_runtime_stopped_mid_batch_lets_the_batch_finish_within_its_deadline(
    migrated_url: str, nats_server: NatsHandle, js: JetStreamContext, pool: asyncpg.Pool[Any]
) -> None:
    site = uuid4()
    entered = asyncio.Event()

    async def slow(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, StaffRegistered)
        entered.set()
        await asyncio.sleep(0.5)
        await uow.conn.execute(
            "INSERT INTO staff_seen (event_id, staff_id) VALUES ($1, $2)",
            envelope.id,
            event.staff_id,
        )

    runtime, spec = await _runtime_with(migrated_url, nats_server.url, site, slow)
    envelope = _staff_event(site)
    try:
        await publish(js, envelope)
        await asyncio.wait_for(entered.wait(), 10.0)
    finally:
        stopped = time.monotonic()
        await runtime.stop()
    took = time.monotonic() - stopped

    seen = await pool.fetchval("SELECT count(*) FROM staff_seen WHERE event_id = $1", envelope.id)
    info = await js.consumer_info(spec.stream, spec.durable)
    assert seen == 1, "the batch in hand was cut short"
    assert (info.num_ack_pending, info.num_redelivered) == (0, 0)
    assert took < 5.0, "shutdown waited for more than the batch in hand"


async def _true(probe: Callable[[], bool]) -> bool:
    return probe()
