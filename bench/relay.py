"""Relay: committed outbox rows → JetStream acks, beside nats-py publishing the same messages."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

import asyncpg
from nats.js import JetStreamContext

from bench.measure import Comparison, Throughput
from bench.workload import STREAM, fresh_stream, sessions_completed, stored
from counseling_shared.envelope import Envelope
from counseling_shared.outbox import enqueue, stream_for
from counseling_shared.relay import OutboxRelay


async def compare(
    pool: asyncpg.Pool[Any], js: JetStreamContext, dsn: str, events: int
) -> Comparison:
    envelopes = sessions_completed(events)
    await fresh_stream(js)
    backbone = await _relay(pool, js, dsn, envelopes)
    await fresh_stream(js)
    raw = await _raw_publish(js, envelopes)
    await fresh_stream(js)
    serial = await _serial_publish(js, envelopes)
    return Comparison(
        "relay: outbox rows → JetStream acks",
        backbone,
        raw,
        "nats-py publish_async of the same payloads and headers, all pipelined, acks awaited",
        serial,
        "nats-py publish of the same messages, each ack awaited before the next publish",
    )


async def _relay(
    pool: asyncpg.Pool[Any], js: JetStreamContext, dsn: str, envelopes: list[Envelope]
) -> Throughput:
    async with pool.acquire() as conn:
        for start in range(0, len(envelopes), 1000):
            async with conn.transaction():
                await enqueue(conn, envelopes[start : start + 1000], headers={})
    relay = OutboxRelay(pool, js, dsn=dsn)
    started = time.perf_counter()
    published = 0
    while published < len(envelopes):
        moved = await relay.drain_once()
        if moved == 0:
            raise RuntimeError(f"the relay stalled after {published} events")
        published += moved
    elapsed = time.perf_counter() - started
    assert await stored(js) == len(envelopes)
    return Throughput(published, elapsed)


async def _raw_publish(js: JetStreamContext, envelopes: list[Envelope]) -> Throughput:
    # Fresh message ids: the relay's would be dropped as duplicates and acked without storing.
    messages = [(e.nats_subject, e.encode(), {"Nats-Msg-Id": str(uuid4())}) for e in envelopes]
    stream = stream_for(envelopes[0].source)
    assert stream == STREAM.name
    started = time.perf_counter()
    futures = [
        await js.publish_async(subject, payload, stream=stream, headers=headers)
        for subject, payload, headers in messages
    ]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    assert await stored(js) == len(envelopes)
    return Throughput(len(envelopes), elapsed)


async def _serial_publish(js: JetStreamContext, envelopes: list[Envelope]) -> Throughput:
    stream = stream_for(envelopes[0].source)
    messages = [(e.nats_subject, e.encode(), {"Nats-Msg-Id": str(uuid4())}) for e in envelopes]
    started = time.perf_counter()
    for subject, payload, headers in messages:
        await js.publish(subject, payload, stream=stream, headers=headers)
    elapsed = time.perf_counter() - started
    assert await stored(js) == len(envelopes)
    return Throughput(len(envelopes), elapsed)
