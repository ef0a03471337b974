"""Inbox consumer: JetStream → committed projection rows, beside the same inserts done directly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from nats.js import JetStreamContext

from bench.measure import Comparison, Throughput
from bench.workload import STREAM, fresh_stream, sessions_completed
from counseling_shared.clock import SystemClock
from counseling_shared.envelope import REGISTRY, Envelope
from counseling_shared.events import IntegrationEvent, SessionCompleted
from counseling_shared.inbox import BatchHandler, InboxConsumer
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.unit_of_work import UnitOfWork

BATCH = 64  # InboxConsumer's default fetch batch; the raw inserts use the same size
CONSUMER = "bench-sessions"


async def compare(
    pool: asyncpg.Pool[Any], js: JetStreamContext, events: int
) -> tuple[Comparison, Comparison]:
    """The consumer with the per-event handler, then with the batch handler, beside one raw."""
    envelopes = sessions_completed(events)
    await fresh_stream(js)
    futures = [
        await js.publish_async(e.nats_subject, e.encode(), headers={"Nats-Msg-Id": str(e.id)})
        for e in envelopes
    ]
    await asyncio.gather(*futures)
    per_event = await _consume(pool, js, len(envelopes), CONSUMER, None)
    # The same stored messages again, through a durable of its own and the batch handler.
    await pool.execute("TRUNCATE bench_sessions")
    batched = await _consume(pool, js, len(envelopes), f"{CONSUMER}-batch", project_sessions)
    rows = _rows(envelopes)
    raw = await _raw_inserts(pool, rows, "bench-raw", serial=False)
    serial = await _raw_inserts(pool, rows, "bench-serial", serial=True)
    raw_method = f"asyncpg executemany of the inbox and projection rows, {BATCH} per transaction"
    serial_method = (
        f"asyncpg execute of each inbox and projection row, {BATCH} events per transaction"
    )
    return (
        Comparison(
            "consumer, per-event handler: JetStream → committed projection rows",
            per_event,
            raw,
            raw_method,
            serial,
            serial_method,
        ),
        Comparison(
            "consumer, batch handler: JetStream → committed projection rows",
            batched,
            raw,
            raw_method,
            serial,
            serial_method,
        ),
    )


async def project_session(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    """The trivial handler: one projection row per event."""
    assert isinstance(event, SessionCompleted)
    await uow.conn.execute(
        """INSERT INTO bench_sessions (event_id, appointment_id, client_id, completed_at)
           VALUES ($1, $2, $3, $4)""",
        envelope.id,
        event.appointment_id,
        event.client_id,
        event.completed_at,
    )


async def project_sessions(
    uow: UnitOfWork, messages: Sequence[tuple[Envelope, IntegrationEvent]]
) -> None:
    """The same projection as a batch handler: one executemany for the whole batch."""
    rows = []
    for envelope, event in messages:
        assert isinstance(event, SessionCompleted)
        rows.append((envelope.id, event.appointment_id, event.client_id, event.completed_at))
    await uow.conn.executemany(
        """INSERT INTO bench_sessions (event_id, appointment_id, client_id, completed_at)
           VALUES ($1, $2, $3, $4)""",
        rows,
    )


async def _consume(
    pool: asyncpg.Pool[Any],
    js: JetStreamContext,
    events: int,
    durable: str,
    batch_handler: BatchHandler | None,
) -> Throughput:
    consumer = InboxConsumer(
        pool=pool,
        js=js,
        spec=ConsumerSpec(durable, STREAM.name, ["bench.*.SessionCompleted"]),
        handler=project_session,
        batch_handler=batch_handler,
        registry=REGISTRY,
        source="bench",
        clock=SystemClock(),
        batch_size=BATCH,
    )
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    try:
        # Polling the committed rows is the measurement: nothing else knows they are visible.
        while await pool.fetchval("SELECT count(*) FROM bench_sessions") < events:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return Throughput(events, elapsed)


Row = tuple[UUID, UUID, UUID, datetime]


def _rows(envelopes: list[Envelope]) -> list[Row]:
    rows = []
    for envelope in envelopes:
        event = REGISTRY.parse(envelope)
        assert isinstance(event, SessionCompleted)
        rows.append((envelope.id, event.appointment_id, event.client_id, event.completed_at))
    return rows


_INBOX = "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_PROJECTION = """INSERT INTO bench_sessions_raw (event_id, appointment_id, client_id, completed_at)
                 VALUES ($1, $2, $3, $4)"""


async def _raw_inserts(
    pool: asyncpg.Pool[Any], rows: list[Row], consumer: str, *, serial: bool
) -> Throughput:
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            async with conn.transaction():
                if serial:
                    for row in batch:
                        await conn.execute(_INBOX, consumer, row[0])
                        await conn.execute(_PROJECTION, *row)
                else:
                    await conn.executemany(_INBOX, [(consumer, row[0]) for row in batch])
                    await conn.executemany(_PROJECTION, batch)
    elapsed = time.perf_counter() - started
    return Throughput(len(rows), elapsed)
