"""The inbox consumer when the database refuses something outside a handler (a value it cannot
store, a statement it rejects): the culprit is dead-lettered or terminated and the durable flows
on, never waiting for an outage that is not one. And a busy database (lock timeout) never
dead-letters a message of a `retry_overload` durable."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from counseling_shared.envelope import Envelope
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.inbox import InboxConsumer, PermanentFailure, _Outcome
from counseling_shared.unit_of_work import UnitOfWork
from tests.shared.integration.support import eventually, session_completed
from tests.shared.integration.test_inbox import (
    _dead_letter_count,
    _projected,
    consumer_for,
    consuming,
    envelope_of,
    publish,
    recorder,
    rows_for,
    spec_for,
)

pytestmark = pytest.mark.integration


class NeverWaits(InboxConsumer):
    """Notes each time it would wait for the database (an outage), which none of these is."""

    waits = 0

    async def _wait_for_database(self, delay: float) -> None:
        type(self).waits += 1
        await super()._wait_for_database(delay)


async def _letters(pool: asyncpg.Pool[Any], durable: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT reason, detail, headers, event_id FROM dead_letters WHERE consumer = $1"
        " ORDER BY stream_seq",
        durable,
    )


async def test_a_poison_message_with_an_unstorable_header_is_dead_lettered_without_it(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # jsonb refuses \u0000: the dead letter of a malformed message carrying a NUL in a header
    # could not be written, and the durable replayed the batch for ever (the audit's probe).
    site = uuid4()
    spec = spec_for(site)
    handler, _ = recorder(spec)
    await js.publish(
        f"booking.{site}.SessionCompleted",
        b"not json",
        headers={"X-Bad": "a\x00b", "X-Fine": "kept"},
    )
    event = session_completed(site)
    await publish(js, envelope_of(event))
    NeverWaits.waits = 0
    async with consuming(consumer_for(pool, js, spec, handler, NeverWaits)):
        await eventually(lambda: _projected(pool, spec, event.appointment_id), timeout=10.0)
        await eventually(lambda: _dead_letter_count(pool, spec, 1))

    [letter] = await _letters(pool, spec.durable)
    assert letter["reason"] == "malformed"
    assert letter["headers"] == {"X-Fine": "kept"}
    assert "headers not stored, unstorable: X-Bad" in letter["detail"]
    assert NeverWaits.waits == 0


async def test_a_rejection_whose_reason_holds_a_nul_is_dead_lettered_with_it_escaped(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    rejected, fine = session_completed(site), session_completed(site)

    async def handler(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SessionCompleted)
        if event.appointment_id == rejected.appointment_id:
            raise PermanentFailure("name a\x00b cannot be used")
        await uow.conn.execute(
            "INSERT INTO sessions_seen (consumer, event_id, appointment_id) VALUES ($1, $2, $3)",
            spec.durable,
            envelope.id,
            event.appointment_id,
        )

    for event in (rejected, fine):
        await publish(js, envelope_of(event))
    async with consuming(consumer_for(pool, js, spec, handler)):
        await eventually(lambda: _projected(pool, spec, fine.appointment_id), timeout=10.0)
        await eventually(lambda: _dead_letter_count(pool, spec, 1))

    [letter] = await _letters(pool, spec.durable)
    assert (letter["reason"], letter["detail"]) == ("rejected", "name a\\0b cannot be used")


class RefusesOneFailureCount(NeverWaits):
    """The failure count of one message is refused by the database (a value it rejects, or a
    table it lacks): the batch's transaction fails outside every handler."""

    doomed: UUID | None
    statement = "SELECT 1 / 0"

    async def _failed(self, conn: Any, msg: Msg, envelope: Envelope, exc: Exception) -> _Outcome:
        if envelope.id == self.doomed:
            await conn.execute(self.statement)
        return await super()._failed(conn, msg, envelope, exc)


async def test_a_message_refused_for_a_value_is_dead_lettered_alone_and_its_batch_flows(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # Published before the consumer starts: one batch, failing as a whole the same way twice,
    # then tried message by message; only the culprit is given up, with the reason.
    site = uuid4()
    spec = spec_for(site)
    first, doomed, last = (session_completed(site) for _ in range(3))
    handler, attempts = recorder(spec, always_fail={doomed.appointment_id})
    envelopes = [envelope_of(e) for e in (first, doomed, last)]
    for envelope in envelopes:
        await publish(js, envelope)
    RefusesOneFailureCount.doomed = envelopes[1].id
    NeverWaits.waits = 0

    async with consuming(consumer_for(pool, js, spec, handler, RefusesOneFailureCount)):
        await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=15.0)
        await eventually(lambda: _projected(pool, spec, last.appointment_id))
        info = await eventually(lambda: _settled(js, spec.stream, spec.durable))

    [letter] = await _letters(pool, spec.durable)
    assert letter["reason"] == "unprocessable"
    assert letter["event_id"] == envelopes[1].id
    assert "DivisionByZeroError" in letter["detail"]
    assert await rows_for(pool, spec) == {first.appointment_id: 1, last.appointment_id: 1}
    assert info.num_redelivered == 0, "the batch was kept in hand, never redelivered"
    assert NeverWaits.waits == 0
    assert attempts[doomed.appointment_id] >= 1


class LacksATable(RefusesOneFailureCount):
    statement = "SELECT count(*) FROM no_such_table"


async def test_a_message_refused_for_the_databases_set_up_is_put_back_not_given_up(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # Not the message's fault (a missing table or grant): it is neither dead-lettered nor
    # terminated but nak'ed, the others flow, and once the set-up is fixed it goes the usual
    # way (here: its handler keeps failing, so a handler_failed dead letter).
    site = uuid4()
    spec = spec_for(site)
    first, doomed, last = (session_completed(site) for _ in range(3))
    handler, _ = recorder(spec, always_fail={doomed.appointment_id})
    envelopes = [envelope_of(e) for e in (first, doomed, last)]
    for envelope in envelopes:
        await publish(js, envelope)
    LacksATable.doomed = envelopes[1].id
    NeverWaits.waits = 0

    async with consuming(consumer_for(pool, js, spec, handler, LacksATable)):
        await eventually(lambda: _projected(pool, spec, last.appointment_id), timeout=15.0)
        redelivered = await eventually(lambda: _redelivered(js, spec.stream, spec.durable))
        assert await _letters(pool, spec.durable) == []
        LacksATable.doomed = None  # the operator fixes it
        await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=10.0)

    assert [r["reason"] for r in await _letters(pool, spec.durable)] == ["handler_failed"]
    assert await rows_for(pool, spec) == {first.appointment_id: 1, last.appointment_id: 1}
    assert redelivered
    assert NeverWaits.waits == 0


async def _redelivered(js: JetStreamContext, stream: str, durable: str) -> int:
    redelivered: int = (await js.consumer_info(stream, durable)).num_redelivered
    return redelivered


class RefusesOneDeadLetter(NeverWaits):
    """Even the dead letter of one message is refused."""

    doomed: UUID | None

    async def _dead_letter(
        self, conn: Any, msg: Msg, reason: str, detail: str, envelope: Envelope | None
    ) -> None:
        if envelope is not None and envelope.id == self.doomed:
            await conn.execute("SELECT 1 / 0")
        await super()._dead_letter(conn, msg, reason, detail, envelope)


async def test_a_message_whose_dead_letter_is_refused_too_is_put_back_and_the_rest_flow(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)
    first, rejected, last = (session_completed(site) for _ in range(3))
    handler, _ = recorder(spec, reject={rejected.appointment_id})
    envelopes = [envelope_of(e) for e in (first, rejected, last)]
    for envelope in envelopes:
        await publish(js, envelope)
    RefusesOneDeadLetter.doomed = envelopes[1].id
    NeverWaits.waits = 0

    async with consuming(consumer_for(pool, js, spec, handler, RefusesOneDeadLetter)):
        await eventually(lambda: _projected(pool, spec, last.appointment_id), timeout=15.0)
        assert await _letters(pool, spec.durable) == []
        await eventually(lambda: _redelivered(js, spec.stream, spec.durable))
        RefusesOneDeadLetter.doomed = None
        await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=10.0)
        info = await eventually(lambda: _settled(js, spec.stream, spec.durable))

    # Fixed while the consumer was trying it alone: then its own dead letter goes through.
    [letter] = await _letters(pool, spec.durable)
    assert letter["reason"] in {"rejected", "unprocessable"}
    assert await rows_for(pool, spec) == {first.appointment_id: 1, last.appointment_id: 1}
    assert info.num_ack_pending == 0
    assert NeverWaits.waits == 0


async def _settled(js: JetStreamContext, stream: str, durable: str) -> Any:
    info = await js.consumer_info(stream, durable)
    return info if info.num_ack_pending == 0 and info.num_pending == 0 else None


@pytest.mark.parametrize("retry_overload", [True, False])
async def test_lock_timeouts_never_dead_letter_a_message_of_a_retry_overload_durable(
    pool: asyncpg.Pool[Any], js: JetStreamContext, retry_overload: bool
) -> None:
    # max_deliver 2: without `retry_overload` the second lock timeout dead-letters it.
    site = uuid4()
    spec = replace(spec_for(site), retry_overload=retry_overload)
    event = session_completed(site)
    handler, attempts = recorder(spec)

    async def locked_nine_times(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, SessionCompleted)
        if attempts[event.appointment_id] < 9:
            attempts[event.appointment_id] += 1
            raise asyncpg.LockNotAvailableError("canceling statement due to lock timeout")
        await handler(uow, envelope, event)

    async with consuming(consumer_for(pool, js, spec, locked_nine_times)):
        await publish(js, envelope_of(event))
        if retry_overload:
            await eventually(lambda: _projected(pool, spec, event.appointment_id), timeout=20.0)
        else:
            await eventually(lambda: _dead_letter_count(pool, spec, 1), timeout=10.0)

    letters = await _letters(pool, spec.durable)
    if retry_overload:
        assert letters == []
        assert attempts[event.appointment_id] == 10
        failures = await pool.fetchval(
            "SELECT count(*) FROM inbox_failures WHERE consumer = $1", spec.durable
        )
        assert failures == 0, "an overload is not a handler failure"
    else:
        assert [r["reason"] for r in letters] == ["handler_failed"]
        assert "LockNotAvailableError" in letters[0]["detail"]
