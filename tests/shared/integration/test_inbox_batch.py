"""The inbox consumer with a batch handler: one call per fetched batch, the per-message path as
the fallback for a failing batch, each event still applied once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.envelope import REGISTRY, Envelope
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.inbox import BatchHandler, Handler, InboxConsumer, _Outcome
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.unit_of_work import UnitOfWork
from tests.shared.integration.support import eventually, session_completed
from tests.shared.integration.test_inbox import (
    _dead_letter_count,
    _has,
    _projected,
    consuming,
    envelope_of,
    publish,
    recorder,
    rows_for,
    spec_for,
)

pytestmark = pytest.mark.integration


def batch_recorder(
    spec: ConsumerSpec,
    *,
    poison: set[UUID] = frozenset(),  # type: ignore[assignment]
) -> tuple[BatchHandler, list[list[UUID]]]:
    """A batch handler writing all its rows with one executemany; it raises on a poison one."""
    calls: list[list[UUID]] = []

    async def record_all(
        uow: UnitOfWork, messages: Sequence[tuple[Envelope, IntegrationEvent]]
    ) -> None:
        sessions = [(envelope, e) for envelope, e in messages if isinstance(e, SessionCompleted)]
        calls.append([e.appointment_id for _, e in sessions])
        await uow.conn.executemany(
            "INSERT INTO sessions_seen (consumer, event_id, appointment_id) VALUES ($1, $2, $3)",
            [(spec.durable, envelope.id, e.appointment_id) for envelope, e in sessions],
        )
        if any(e.appointment_id in poison for _, e in sessions):
            raise ValueError("a poison message in the batch")

    return record_all, calls


def batch_consumer(
    pool: asyncpg.Pool[Any],
    js: JetStreamContext,
    spec: ConsumerSpec,
    handler: Handler,
    batch_handler: BatchHandler,
    cls: type[InboxConsumer] = InboxConsumer,
) -> InboxConsumer:
    return cls(
        pool=pool,
        js=js,
        spec=spec,
        handler=handler,
        batch_handler=batch_handler,
        registry=REGISTRY,
        source="probe",
        clock=SystemClock(),
        fetch_timeout=0.2,
    )


async def test_the_batch_handler_is_called_once_per_batch_with_only_the_fresh_messages(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # Published before the consumer starts, so they arrive in one fetched batch.
    site = uuid4()
    spec = spec_for(site)
    handler, attempts = recorder(spec)
    batch_handler, calls = batch_recorder(spec)
    first, seen, last = (session_completed(site) for _ in range(3))
    seen_envelope = envelope_of(seen)
    # `seen` was handled by an earlier delivery: its inbox row is already there.
    await pool.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)", spec.durable, seen_envelope.id
    )
    first_envelope = envelope_of(first)
    await publish(js, first_envelope)
    await js.publish(f"booking.{site}.SessionCompleted", b"{bad json")
    await publish(js, seen_envelope)
    # A second copy of `first` in the same batch (another Nats-Msg-Id, so the stream keeps it).
    await js.publish(first_envelope.nats_subject, first_envelope.encode())
    await publish(js, envelope_of(last))

    async with consuming(batch_consumer(pool, js, spec, handler, batch_handler)):
        await eventually(lambda: _projected(pool, spec, last.appointment_id), timeout=5.0)
        await eventually(lambda: _dead_letter_count(pool, spec, 1))
        info = await js.consumer_info(spec.stream, spec.durable)

    assert calls == [[first.appointment_id, last.appointment_id]], "fresh ones, in stream order"
    assert not attempts, "the per-message handler is only the fallback"
    assert await rows_for(pool, spec) == {first.appointment_id: 1, last.appointment_id: 1}
    reason = await pool.fetchval(
        "SELECT reason FROM dead_letters WHERE consumer = $1", spec.durable
    )
    assert reason == "malformed"
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_a_failing_batch_falls_back_and_only_the_poison_message_is_dead_lettered(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    first, poison, last = (session_completed(site) for _ in range(3))
    handler, attempts = recorder(spec, reject={poison.appointment_id})
    batch_handler, calls = batch_recorder(spec, poison={poison.appointment_id})
    for event in (first, poison, last):
        await publish(js, envelope_of(event))

    async with consuming(batch_consumer(pool, js, spec, handler, batch_handler)):
        await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=5.0)
        await eventually(lambda: _projected(pool, spec, last.appointment_id))

    assert calls == [[first.appointment_id, poison.appointment_id, last.appointment_id]]
    # The batch handler's rows were rolled back; the per-message handler wrote each once.
    assert await rows_for(pool, spec) == {first.appointment_id: 1, last.appointment_id: 1}
    assert attempts == {first.appointment_id: 1, poison.appointment_id: 1, last.appointment_id: 1}
    letter = await pool.fetchrow(
        "SELECT reason, event_type FROM dead_letters WHERE consumer = $1", spec.durable
    )
    assert letter is not None
    assert (letter["reason"], letter["event_type"]) == ("rejected", "SessionCompleted")
    # The dead-lettered message's inbox row went with its savepoint; the dead letter records it.
    inbox = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", spec.durable)
    assert inbox == 2


async def test_a_crash_after_the_commit_before_the_ack_has_no_second_effect(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    class LosesFirstAcks(InboxConsumer):
        """Commits its first batch, then "crashes" before any of its acks reach NATS."""

        settled: list[int] = []

        async def _settle(self, outcome: _Outcome) -> None:
            self.settled.append(outcome.msg.metadata.num_delivered)
            if outcome.msg.metadata.num_delivered == 1:
                return
            await super()._settle(outcome)

    site = uuid4()
    # The lost acks' redelivery comes after ack_wait (the shared spec's 10 s would outlast the
    # wait below).
    spec = replace(spec_for(site), ack_wait=2.0)
    handler, attempts = recorder(spec)
    batch_handler, calls = batch_recorder(spec)
    events = [session_completed(site) for _ in range(3)]
    for event in events:
        await publish(js, envelope_of(event))

    consumer = batch_consumer(pool, js, spec, handler, batch_handler, LosesFirstAcks)
    async with consuming(consumer):
        await eventually(lambda: _has(LosesFirstAcks.settled, 6), timeout=15.0)
        info = await js.consumer_info(spec.stream, spec.durable)

    assert sorted(LosesFirstAcks.settled) == [1, 1, 1, 2, 2, 2], "redelivered after ack_wait"
    assert calls == [[e.appointment_id for e in events]], "no call for an all-duplicate batch"
    assert not attempts
    assert await rows_for(pool, spec) == {e.appointment_id: 1 for e in events}
    assert info.num_ack_pending == 0
