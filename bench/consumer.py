"""Inbox consumer: JetStream → committed projection rows, beside the same fetch, inserts and acks
done directly with nats-py and asyncpg."""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from counseling_shared.jetstream import ConsumerSpec, consumer_config
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
    raw = await raw_consume(pool, js, len(envelopes), "bench-raw")
    await pool.execute("TRUNCATE bench_sessions_raw")
    serial = await raw_consume(pool, js, len(envelopes), "bench-serial", serial=True)
    raw_method = (
        f"nats-py pull fetch of {BATCH} messages, their rows (JSON-decoded) inserted with"
        " asyncpg executemany into the inbox and a projection table in one transaction, then"
        " each message acked"
    )
    serial_method = (
        f"the same fetch of {BATCH} and acks, each inbox and projection row inserted by its"
        " own asyncpg execute"
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


def row_of(payload: bytes) -> Row:
    """The projection row of one stored SessionCompleted envelope, decoded as plain JSON."""
    envelope = json.loads(payload)
    data = envelope["data"]
    return (
        UUID(envelope["id"]),
        UUID(data["appointment_id"]),
        UUID(data["client_id"]),
        datetime.fromisoformat(data["completed_at"]),
    )


_INBOX = "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
_PROJECTION = """INSERT INTO bench_sessions_raw (event_id, appointment_id, client_id, completed_at)
                 VALUES ($1, $2, $3, $4)"""


async def raw_consume(
    pool: asyncpg.Pool[Any],
    js: JetStreamContext,
    events: int,
    durable: str,
    *,
    serial: bool = False,
    stream: str = STREAM.name,
    subject: str = "bench.*.SessionCompleted",
) -> Throughput:
    """What the consumer must do, with nothing of ours: a nats-py pull fetch of `BATCH`
    SessionCompleted messages, their rows inserted in one transaction, then each message acked
    (into `inbox` and `bench_sessions_raw`, bench/migrations)."""
    spec = ConsumerSpec(durable, stream, [subject])
    # Not pinned (`ensure_consumer`): nats-py pulls have no priority group.
    await js.add_consumer(stream, consumer_config(spec))
    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
    done = 0
    try:
        async with pool.acquire() as conn:
            started = time.perf_counter()
            while done < events:
                msgs = await sub.fetch(BATCH, timeout=5.0)
                rows = [row_of(m.data) for m in msgs]
                async with conn.transaction():
                    if serial:
                        for row in rows:
                            await conn.execute(_INBOX, durable, row[0])
                            await conn.execute(_PROJECTION, *row)
                    else:
                        await conn.executemany(_INBOX, [(durable, row[0]) for row in rows])
                        await conn.executemany(_PROJECTION, rows)
                for msg in msgs:
                    await msg.ack()
                done += len(msgs)
            elapsed = time.perf_counter() - started
    finally:
        await sub.unsubscribe()
    return Throughput(done, elapsed)
