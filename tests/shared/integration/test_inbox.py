"""The inbox consumer: each event applied once, poison messages dead-lettered, the rest flowing."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.clock import SystemClock
from counseling_shared.db import DbTimeouts, connect, create_pool
from counseling_shared.envelope import REGISTRY, Envelope, wrap
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.inbox import Handler, InboxConsumer, PermanentFailure, _Outcome
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.unit_of_work import UnitOfWork
from tests.shared.integration.support import (
    eventually,
    messages_on,
    replica_fetch,
    session_completed,
    stop,
)

pytestmark = pytest.mark.integration

SOURCE = "probe"


class Flaky(Exception):
    """A failure that goes away on its own (a timeout, a lock)."""


def spec_for(site: UUID) -> ConsumerSpec:
    return ConsumerSpec(
        f"probe-sessions-{uuid4().hex[:8]}",
        "BOOKING",
        [f"booking.{site}.SessionCompleted"],
        # Long enough that a loaded machine stalling the loop never redelivers a message mid-batch
        # (which would run its handler once more than the tests count).
        ack_wait=10.0,
        max_deliver=2,
        backoff=(0.1,),
    )


def recorder(
    spec: ConsumerSpec,
    *,
    always_fail: set[UUID] = frozenset(),  # type: ignore[assignment]
    reject: set[UUID] = frozenset(),  # type: ignore[assignment]
    fail_first: set[UUID] = frozenset(),  # type: ignore[assignment]
) -> tuple[Handler, Counter[UUID]]:
    """A handler projecting one row per event; it fails on the appointments it is told to."""
    attempts: Counter[UUID] = Counter()

    async def record(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SessionCompleted)
        attempts[event.appointment_id] += 1
        await uow.conn.execute(
            "INSERT INTO sessions_seen (consumer, event_id, appointment_id) VALUES ($1, $2, $3)",
            spec.durable,
            envelope.id,
            event.appointment_id,
        )
        if event.appointment_id in reject:
            raise PermanentFailure("this appointment can never be followed up")
        if event.appointment_id in always_fail:
            raise Flaky("still down")
        if event.appointment_id in fail_first and attempts[event.appointment_id] == 1:
            raise Flaky("down this once")

    return record, attempts


def consumer_for(
    pool: asyncpg.Pool[Any],
    js: JetStreamContext,
    spec: ConsumerSpec,
    handler: Handler,
    cls: type[InboxConsumer] = InboxConsumer,
) -> InboxConsumer:
    return cls(
        pool=pool,
        js=js,
        spec=spec,
        handler=handler,
        registry=REGISTRY,
        source=SOURCE,
        clock=SystemClock(),
        fetch_timeout=0.2,
    )


@contextlib.asynccontextmanager
async def consuming(consumer: InboxConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _bound(consumer))
        yield
    finally:
        await stop(task)


async def _bound(consumer: InboxConsumer) -> bool:
    return consumer.bound


async def publish(js: JetStreamContext, envelope: Envelope) -> None:
    await js.publish(
        envelope.nats_subject, envelope.encode(), headers={"Nats-Msg-Id": str(envelope.id)}
    )


def envelope_of(event: SessionCompleted) -> Envelope:
    return wrap(event, source="booking", subject=event.appointment_id)


async def rows_for(pool: asyncpg.Pool[Any], spec: ConsumerSpec) -> Counter[UUID]:
    rows = await pool.fetch(
        "SELECT appointment_id FROM sessions_seen WHERE consumer = $1", spec.durable
    )
    return Counter(r["appointment_id"] for r in rows)


async def test_a_lost_ack_redelivers_and_the_inbox_skips_the_second_delivery(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    class LosesFirstAck(InboxConsumer):
        """Commits, then "crashes" before its first ack reaches NATS."""

        lost = 0
        deliveries: list[int] = []

        async def _settle(self, outcome: _Outcome) -> None:
            self.deliveries.append(outcome.msg.metadata.num_delivered)
            if outcome.action == "ack" and not self.lost:
                self.lost += 1
                return
            await super()._settle(outcome)

    site = uuid4()
    spec = replace(spec_for(site), ack_wait=1.0)  # the lost ack's redelivery comes after it
    handler, attempts = recorder(spec)
    consumer = consumer_for(pool, js, spec, handler, LosesFirstAck)
    event = session_completed(site)

    async with consuming(consumer):
        await publish(js, envelope_of(event))
        await eventually(lambda: _has(LosesFirstAck.deliveries, 2), timeout=5.0)
        info = await js.consumer_info(spec.stream, spec.durable)

    assert LosesFirstAck.deliveries == [1, 2], "the message was not redelivered after ack_wait"
    assert attempts[event.appointment_id] == 1, "the handler ran again for a redelivery"
    assert await rows_for(pool, spec) == {event.appointment_id: 1}
    assert info.num_ack_pending == 0
    inbox = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", spec.durable)
    assert inbox == 1


async def test_poison_messages_are_dead_lettered_and_the_ones_after_them_still_flow(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    doomed, rejected, fine = (
        session_completed(site),
        session_completed(site),
        session_completed(site),
    )
    handler, attempts = recorder(
        spec, always_fail={doomed.appointment_id}, reject={rejected.appointment_id}
    )
    subject = f"booking.{site}.SessionCompleted"
    unknown = envelope_of(session_completed(site)).model_copy(update={"type": "SessionLevitated"})
    newer = envelope_of(session_completed(site)).model_copy(update={"dataschemaversion": 9})

    async with consuming(consumer_for(pool, js, spec, handler)):
        await js.publish(subject, b"{bad json")
        await js.publish(subject, unknown.encode())
        await js.publish(subject, newer.encode())
        await publish(js, envelope_of(doomed))
        await publish(js, envelope_of(rejected))
        await publish(js, envelope_of(fine))
        await eventually(lambda: _dead_letter_count(pool, spec, 5), timeout=10.0)
        await eventually(lambda: _projected(pool, spec, fine.appointment_id))

    letters = await pool.fetch(
        """SELECT reason, event_type, deliveries, stream_seq, payload FROM dead_letters
           WHERE consumer = $1 ORDER BY stream_seq""",
        spec.durable,
    )
    reasons = [(r["reason"], r["deliveries"]) for r in letters]
    assert reasons == [
        ("malformed", 1),
        ("unknown_type", 1),
        ("unsupported_version", 1),
        ("handler_failed", 2),
        ("rejected", 1),
    ]
    assert letters[0]["payload"] == b"{bad json"
    assert attempts[doomed.appointment_id] == 2
    assert attempts[rejected.appointment_id] == 1
    # Their handlers' writes were rolled back with their savepoints.
    assert await rows_for(pool, spec) == {fine.appointment_id: 1}

    dlq = await messages_on(js, "DLQ", f"dlq.{SOURCE}.{spec.durable}")
    # In the order they were dead-lettered: the retried one comes last.
    assert sorted(m.headers["Dlq-Reason"] for m in dlq if m.headers) == sorted(
        r for r, _ in reasons
    )
    assert all(m.headers and m.headers["Dlq-Original-Subject"] == subject for m in dlq)
    assert dlq[0].data == b"{bad json"


async def test_a_transient_failure_is_retried_and_then_succeeds(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    event = session_completed(site)
    handler, attempts = recorder(spec, fail_first={event.appointment_id})

    async with consuming(consumer_for(pool, js, spec, handler)):
        await publish(js, envelope_of(event))
        await eventually(lambda: _projected(pool, spec, event.appointment_id), timeout=5.0)

    assert attempts[event.appointment_id] == 2
    assert await rows_for(pool, spec) == {event.appointment_id: 1}
    assert not await pool.fetchval(
        "SELECT count(*) FROM dead_letters WHERE consumer = $1", spec.durable
    )


async def test_a_failure_inside_a_batch_costs_the_others_nothing(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # Published before the consumer starts, so the three arrive in one fetched batch: the
    # failing middle one makes the batch roll back and replay with a savepoint per message.
    site = uuid4()
    spec = spec_for(site)
    first, flaky, last = (session_completed(site) for _ in range(3))
    handler, attempts = recorder(spec, fail_first={flaky.appointment_id})
    for event in (first, flaky, last):
        await publish(js, envelope_of(event))

    async with consuming(consumer_for(pool, js, spec, handler)):
        await eventually(lambda: _projected(pool, spec, flaky.appointment_id), timeout=5.0)

    assert await rows_for(pool, spec) == {
        first.appointment_id: 1,
        flaky.appointment_id: 1,
        last.appointment_id: 1,
    }
    assert attempts[flaky.appointment_id] == 2, "one handler run per delivery"
    inbox = await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", spec.durable)
    assert inbox == 3


async def test_events_published_by_a_handler_continue_the_correlation(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    outgoing: list[Envelope] = []

    async def react(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SessionCompleted)
        outgoing.append(uow.publish(session_completed(site), subject=event.appointment_id))

    cause = envelope_of(session_completed(site))
    async with consuming(consumer_for(pool, js, spec, react)):
        await publish(js, cause)
        await eventually(lambda: _has(outgoing, 1))
        await eventually(lambda: _in_outbox(pool, outgoing[0].id))

    assert outgoing[0].correlationid == cause.correlationid
    assert outgoing[0].causationid == cause.id


async def _has(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def _dead_letter_count(pool: asyncpg.Pool[Any], spec: ConsumerSpec, n: int) -> bool:
    found: int = await pool.fetchval(
        "SELECT count(*) FROM dead_letters WHERE consumer = $1", spec.durable
    )
    return found >= n


async def _projected(pool: asyncpg.Pool[Any], spec: ConsumerSpec, appointment_id: UUID) -> bool:
    return (await rows_for(pool, spec))[appointment_id] > 0


async def _in_outbox(pool: asyncpg.Pool[Any], event_id: UUID) -> bool:
    found: bool = await pool.fetchval(
        "SELECT count(*) = 1 FROM outbox WHERE event_id = $1", event_id
    )
    return found


async def test_a_handler_stuck_on_a_locked_row_fails_by_lock_timeout_and_the_rest_flow(
    migrated_url: str, js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    locked_row, free_row = uuid4(), uuid4()
    stuck, fine = session_completed(site), session_completed(site)
    rows = {stuck.appointment_id: locked_row, fine.appointment_id: free_row}

    async def lock_then_record(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, SessionCompleted)
        await uow.conn.execute(
            "SELECT 1 FROM staff WHERE id = $1 FOR UPDATE", rows[event.appointment_id]
        )
        await uow.conn.execute(
            "INSERT INTO sessions_seen (consumer, event_id, appointment_id) VALUES ($1, $2, $3)",
            spec.durable,
            envelope.id,
            event.appointment_id,
        )

    budgeted = await create_pool(migrated_url, timeouts=DbTimeouts(lock=0.3))
    holder = await connect(migrated_url)
    try:
        for row in (locked_row, free_row):
            await holder.execute(
                "INSERT INTO staff (id, site_id, role) VALUES ($1, $2, 'counselor')", row, site
            )
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM staff WHERE id = $1 FOR UPDATE", locked_row)
            async with consuming(consumer_for(budgeted, js, spec, lock_then_record)):
                await publish(js, envelope_of(stuck))
                await publish(js, envelope_of(fine))
                await eventually(lambda: _dead_letter_count(budgeted, spec, 1), timeout=15.0)
                await eventually(lambda: _projected(budgeted, spec, fine.appointment_id))
        letter = await budgeted.fetchrow(
            "SELECT reason, detail FROM dead_letters WHERE consumer = $1", spec.durable
        )
    finally:
        await holder.close()
        await budgeted.close()

    assert letter is not None
    assert letter["reason"] == "handler_failed"
    assert "LockNotAvailableError" in letter["detail"]


async def test_a_handler_over_its_time_budget_fails_that_message_only(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    slow, fine = session_completed(site), session_completed(site)
    handler, attempts = recorder(spec)

    async def hangs_on_slow(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        await handler(uow, envelope, event)
        assert isinstance(event, SessionCompleted)
        if event.appointment_id == slow.appointment_id:
            await asyncio.Event().wait()  # never answers, like a provider that went silent

    consumer = InboxConsumer(
        pool=pool,
        js=js,
        spec=spec,
        handler=hangs_on_slow,
        registry=REGISTRY,
        source=SOURCE,
        clock=SystemClock(),
        fetch_timeout=0.2,
        handler_timeout=0.3,
    )
    async with consuming(consumer):
        await publish(js, envelope_of(slow))
        await publish(js, envelope_of(fine))
        await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=15.0)
        await eventually(lambda: _projected(pool, spec, fine.appointment_id))

    letter = await pool.fetchrow(
        "SELECT reason, detail FROM dead_letters WHERE consumer = $1", spec.durable
    )
    assert letter is not None
    assert (letter["reason"], attempts[slow.appointment_id]) == ("handler_failed", 2)
    assert "budget" in letter["detail"]
    assert await rows_for(pool, spec) == {fine.appointment_id: 1}


async def test_a_batch_longer_than_ack_wait_keeps_its_messages_from_other_replicas(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # The batch tells JetStream it is still working (`in_progress`), so a message whose handler
    # outlives ack_wait is not redelivered to another replica meanwhile, nor counted again.
    site = uuid4()
    spec = replace(spec_for(site), ack_wait=3.0)
    event = session_completed(site)
    handler, attempts = recorder(spec)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        entered.set()
        await release.wait()
        await handler(uow, envelope, event)

    async with consuming(consumer_for(pool, js, spec, slow)):
        try:
            await publish(js, envelope_of(event))
            await asyncio.wait_for(entered.wait(), 10.0)
            # Twice ack_wait: without the progress signal the message comes back within it.
            assert await replica_fetch(js, spec, 1, timeout=2 * spec.ack_wait) == []
        finally:
            release.set()
        await eventually(lambda: _projected(pool, spec, event.appointment_id), timeout=10.0)
        info = await js.consumer_info(spec.stream, spec.durable)

    assert attempts[event.appointment_id] == 1
    assert info.num_redelivered == 0


def publisher(
    site: UUID, fail_first: UUID | None = None
) -> tuple[Handler, dict[UUID, Envelope], list[int]]:
    """A handler publishing one event per message (the last run's, by its cause); it notes
    how many of them the outbox already holds, seen from its own transaction, when it runs."""
    outgoing: dict[UUID, Envelope] = {}
    seen: list[int] = []
    failed: set[UUID] = set()

    async def react(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SessionCompleted)
        seen.append(
            await uow.conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_id = ANY($1::uuid[])",
                [e.id for e in outgoing.values()],
            )
        )
        published = uow.publish(session_completed(site), subject=event.appointment_id)
        if event.appointment_id == fail_first and fail_first not in failed:
            failed.add(fail_first)
            raise Flaky("down this once")
        outgoing[envelope.id] = published

    return react, outgoing, seen


async def _outbox_rows(pool: asyncpg.Pool[Any], envelopes: list[Envelope]) -> list[UUID]:
    rows = await pool.fetch(
        "SELECT causation_id FROM (SELECT (convert_from(payload, 'UTF8')::jsonb"
        " ->> 'causationid')::uuid AS causation_id FROM outbox WHERE event_id = ANY($1::uuid[]))"
        " AS published",
        [e.id for e in envelopes],
    )
    return sorted(r["causation_id"] for r in rows)


async def test_a_batchs_outbox_rows_are_written_once_after_its_handlers(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # Published before the consumer starts: one fetched batch, one outbox statement for it.
    site = uuid4()
    react, outgoing, seen = publisher(site)
    causes = [envelope_of(session_completed(site)) for _ in range(3)]
    for cause in causes:
        await publish(js, cause)

    async with consuming(consumer_for(pool, js, spec_for(site), react)):
        await eventually(lambda: _has(list(outgoing), 3))
        await eventually(lambda: _all_in_outbox(pool, list(outgoing.values())))

    assert seen == [0, 0, 0]  # none written while the batch's handlers ran
    assert await _outbox_rows(pool, list(outgoing.values())) == sorted(c.id for c in causes)


async def test_a_batch_replayed_message_by_message_writes_each_outbox_row_once(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    causes = [envelope_of(session_completed(site)) for _ in range(3)]
    react, outgoing, _ = publisher(site, fail_first=UUID(str(causes[1].data["appointment_id"])))
    for cause in causes:
        await publish(js, cause)

    async with consuming(consumer_for(pool, js, spec_for(site), react)):
        await eventually(lambda: _has(list(outgoing), 3), timeout=5.0)
        await eventually(lambda: _all_in_outbox(pool, list(outgoing.values())))

    # The fast pass's rows were rolled back with it; the careful pass wrote each once.
    assert await _outbox_rows(pool, list(outgoing.values())) == sorted(c.id for c in causes)


async def _all_in_outbox(pool: asyncpg.Pool[Any], envelopes: list[Envelope]) -> bool:
    found: int = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_id = ANY($1::uuid[])", [e.id for e in envelopes]
    )
    return found == len(envelopes)
