"""A consumer dead-letters an event whose `source` is not its subject's context."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import IntegrationEvent
from counseling_shared.inbox import InboxConsumer
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.unit_of_work import UnitOfWork
from tests.shared.integration.support import eventually, session_completed

pytestmark = pytest.mark.integration


async def test_an_event_claiming_another_context_than_its_subject_is_dead_lettered(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = ConsumerSpec(
        f"probe-source-{uuid4().hex[:8]}", "BOOKING", [f"booking.{site}.SessionCompleted"]
    )
    handled: list[UUID] = []

    async def handler(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        handled.append(envelope.id)

    consumer = InboxConsumer(
        pool=pool,
        js=js,
        spec=spec,
        handler=handler,
        registry=REGISTRY,
        source="probe",
        clock=SystemClock(),
        fetch_timeout=0.2,
    )
    subject = f"booking.{site}.SessionCompleted"
    forged = wrap(session_completed(site), source="followup", subject=uuid4())
    genuine = wrap(session_completed(site), source="booking", subject=uuid4())

    task = asyncio.create_task(consumer.run())
    try:
        await js.publish(subject, forged.encode(), headers={"Nats-Msg-Id": str(forged.id)})
        await js.publish(subject, genuine.encode(), headers={"Nats-Msg-Id": str(genuine.id)})
        await eventually(lambda: _handled(handled, genuine.id), timeout=10.0)
        letters = await eventually(lambda: _letters(pool, spec), timeout=10.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)

    assert handled == [genuine.id]
    assert [(r["reason"], r["subject"]) for r in letters] == [("source_mismatch", subject)]
    assert "followup" in letters[0]["detail"]


async def _handled(handled: list[UUID], wanted: UUID) -> bool:
    return wanted in handled


async def _letters(pool: asyncpg.Pool[Any], spec: ConsumerSpec) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT reason, subject, detail FROM dead_letters WHERE consumer = $1", spec.durable
    )
