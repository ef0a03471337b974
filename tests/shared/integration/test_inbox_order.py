"""The inbox consumer keeps each aggregate's events in stream order: an event that failed and
was nak'ed holds back the later events of its subject (in its batch and in later batches)
until it is handled or dead-lettered, while the other subjects go on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.js import JetStreamContext

from counseling_shared.envelope import wrap
from counseling_shared.jetstream import ConsumerSpec
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


async def _seen_in_order(pool: asyncpg.Pool[Any], spec: ConsumerSpec) -> list[UUID]:
    rows = await pool.fetch(
        "SELECT appointment_id FROM sessions_seen WHERE consumer = $1 ORDER BY seen_at",
        spec.durable,
    )
    return [r["appointment_id"] for r in rows]


async def _count(pool: asyncpg.Pool[Any], spec: ConsumerSpec, n: int) -> bool:
    return len(await _seen_in_order(pool, spec)) >= n


async def test_a_nakd_event_is_not_overtaken_by_a_later_event_of_its_aggregate_in_its_batch(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # The audit's probe: AppointmentBooked fails once, AppointmentCancelled of the same
    # appointment follows in the same batch (both published before the consumer starts).
    site = uuid4()
    spec = spec_for(site)
    aggregate = uuid4()
    first, second = session_completed(site), session_completed(site)
    handler, attempts = recorder(spec, fail_first={first.appointment_id})
    for event in (first, second):
        await publish(js, wrap(event, source="booking", subject=aggregate))

    async with consuming(consumer_for(pool, js, spec, handler)):
        await eventually(lambda: _count(pool, spec, 2), timeout=10.0)

    assert await _seen_in_order(pool, spec) == [first.appointment_id, second.appointment_id]
    assert attempts == {first.appointment_id: 2, second.appointment_id: 1}


async def test_a_nakd_event_holds_its_aggregates_events_of_later_batches_not_the_others(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = replace(spec_for(site), backoff=(3.0,))
    aggregate = uuid4()
    first, second, other = (session_completed(site) for _ in range(3))
    handler, attempts = recorder(spec, fail_first={first.appointment_id})

    async with consuming(consumer_for(pool, js, spec, handler)):
        await publish(js, wrap(first, source="booking", subject=aggregate))
        await eventually(lambda: _attempted(attempts, first.appointment_id))
        # Next batches, while the first waits out its 3 s back-off.
        await publish(js, wrap(second, source="booking", subject=aggregate))
        await publish(js, envelope_of(other))
        await eventually(lambda: _projected(pool, spec, other.appointment_id), timeout=5.0)
        ahead = await rows_for(pool, spec)
        await eventually(lambda: _count(pool, spec, 3), timeout=10.0)

    assert ahead == {other.appointment_id: 1}, "another aggregate waited, or this one did not"
    order = await _seen_in_order(pool, spec)
    assert order.index(first.appointment_id) < order.index(second.appointment_id)
    assert attempts[second.appointment_id] == 1


async def test_a_dead_lettered_event_lets_its_aggregates_later_events_go(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    site = uuid4()
    spec = spec_for(site)  # max_deliver 2
    aggregate = uuid4()
    doomed, later = session_completed(site), session_completed(site)
    handler, _ = recorder(spec, always_fail={doomed.appointment_id})
    for event in (doomed, later):
        await publish(js, wrap(event, source="booking", subject=aggregate))

    async with consuming(consumer_for(pool, js, spec, handler)):
        await eventually(lambda: _projected(pool, spec, later.appointment_id), timeout=10.0)

    assert await _dead_letter_count(pool, spec, 1)
    assert await rows_for(pool, spec) == {later.appointment_id: 1}


async def test_a_nakd_event_holds_its_aggregate_on_every_replica(
    pool: asyncpg.Pool[Any], js: JetStreamContext
) -> None:
    # One replica sees the first event fail and stops; another fetches the next event of the
    # same aggregate while the first waits out its back-off: it must wait too.
    site = uuid4()
    spec = replace(spec_for(site), backoff=(3.0,))
    aggregate = uuid4()
    first, second = session_completed(site), session_completed(site)
    handler, attempts = recorder(spec, fail_first={first.appointment_id})

    async with consuming(consumer_for(pool, js, spec, handler)):
        await publish(js, wrap(first, source="booking", subject=aggregate))
        await eventually(lambda: _attempted(attempts, first.appointment_id))
    async with consuming(consumer_for(pool, js, spec, handler)):
        await publish(js, wrap(second, source="booking", subject=aggregate))
        await eventually(lambda: _count(pool, spec, 2), timeout=15.0)
        holds = await pool.fetchval(
            "SELECT count(*) FROM inbox_holds WHERE consumer = $1", spec.durable
        )

    assert await _seen_in_order(pool, spec) == [first.appointment_id, second.appointment_id]
    assert attempts == {first.appointment_id: 2, second.appointment_id: 1}
    assert holds == 0, "the hold outlived the event that held it"


async def _attempted(attempts: Any, key: UUID) -> bool:
    return bool(attempts[key] >= 1)
