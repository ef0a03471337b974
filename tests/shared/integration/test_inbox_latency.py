"""The inbox consumer hands a message to its handler as soon as it is there, not at the end of
an idle fetch: pages go through it (notify's `notify-crisis`), and a page is measured in ms."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import IntegrationEvent
from counseling_shared.inbox import InboxConsumer
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.unit_of_work import UnitOfWork
from devstack.handles import NatsHandle
from tests.shared.integration.support import (
    delaying_proxy,
    eventually,
    session_completed,
    stop,
)

pytestmark = pytest.mark.integration

FETCH_TIMEOUT = 1.0
PROXY_DELAY = 0.05
PAIRS = 5
PAIR_GAP = 1.3  # longer than a fetch: each pair finds an idle fetch's late 408, at another phase
WITHIN = 0.4  # far above a handled message's few ms (plus the proxy's 50), well below 1 s


async def test_a_message_right_after_another_is_handled_without_waiting_for_a_fetch_timeout(
    nats_server: NatsHandle, js: JetStreamContext, pool: asyncpg.Pool[Any]
) -> None:
    """Messages in pairs, 30 ms apart, while each pull request reaches the server 50 ms late.

    nats-py's fetch took the late 408 of its previous request for the end of its new one and
    sent a lingering request besides; the second message of a pair went to that leftover and
    waited in the next fetch until some request ended: up to the whole fetch timeout.
    """
    site = uuid4()
    spec = ConsumerSpec(
        f"probe-latency-{uuid4().hex[:8]}", "BOOKING", [f"booking.{site}.SessionCompleted"]
    )
    handled: dict[UUID, float] = {}

    async def record(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        handled[envelope.id] = time.monotonic()

    async with delaying_proxy(nats_server.url, PROXY_DELAY) as slow_url:
        slow = await nats.connect(slow_url)
        consumer = InboxConsumer(
            pool=pool,
            js=slow.jetstream(timeout=5.0),
            spec=spec,
            handler=record,
            registry=REGISTRY,
            source="probe",
            clock=SystemClock(),
            fetch_timeout=FETCH_TIMEOUT,
        )
        task = asyncio.create_task(consumer.run())
        try:
            await eventually(lambda: _bound(consumer))
            await asyncio.sleep(FETCH_TIMEOUT * 1.5)  # idle fetches expire: the race is set
            published: dict[UUID, float] = {}
            for _ in range(PAIRS):
                for gap in (0.03, PAIR_GAP):
                    envelope = wrap(session_completed(site), source="booking", subject=site)
                    published[envelope.id] = time.monotonic()
                    await js.publish(
                        envelope.nats_subject,
                        envelope.encode(),
                        headers={"Nats-Msg-Id": str(envelope.id)},
                    )
                    await asyncio.sleep(gap)
            await eventually(lambda: _all_handled(handled, published), timeout=10.0)
        finally:
            await stop(task)
            await slow.close()
    waited = sorted(round(handled[i] - at, 3) for i, at in published.items())
    assert waited[-1] < WITHIN, f"seconds from publish to handler: {waited}"


async def _bound(consumer: InboxConsumer) -> bool:
    return consumer.bound


async def _all_handled(handled: dict[UUID, float], published: dict[UUID, float]) -> bool:
    return published.keys() <= handled.keys()
