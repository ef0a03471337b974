"""SessionCompleted → followup's scheduled check-in rows, in events/s, with all services running.

`N` SessionCompleted envelopes (one fresh client each, one site followup has heard of) are
published on booking's stream as booking's relay publishes them (booking's NATS user, the
envelope on its subject, `Nats-Msg-Id`), all pipelined. The window runs from just before the
first publish until followup has committed a scheduled first check-in for every one of them
(counted on followup's database every 20 ms: the end is known to within one interval).

Beside it, in the same run, the consumer's raw limit on the same stored messages: a durable of
its own (the benchmarks' NATS user), a nats-py pull fetch, the inbox and one projection row per
event inserted with asyncpg `executemany`, each message acked (`bench.consumer.raw_consume`),
into a scratch database on the same PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.consumer import raw_consume
from bench.measure import Throughput
from bench.stack import Stack
from counseling_shared.bus import connect_bus
from counseling_shared.codes import GoalHorizon, RiskLevel
from counseling_shared.db import connect, create_pool
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import SessionCompleted, SiteRegistered
from counseling_shared.migrations import apply_migrations
from devstack.postgres import drop_database, ensure_database, with_database
from tests.e2e.harness import eventually

SESSIONS = 2_000
BENCH_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Pipeline:
    followup: Throughput
    raw: Throughput

    @property
    def share(self) -> float:
        return self.followup.per_second / self.raw.per_second


def sessions(site_id: uuid.UUID, count: int) -> list[Envelope]:
    completed = datetime.now(UTC) - timedelta(hours=1)
    return [
        wrap(
            SessionCompleted(
                appointment_id=(appointment_id := uuid.uuid4()),
                site_id=site_id,
                client_id=uuid.uuid4(),
                counselor_id=uuid.uuid4(),
                completed_at=completed,
                goal_horizon=GoalHorizon.SHORT_TERM,
                risk_level=RiskLevel.NONE,
            ),
            source="booking",
            subject=appointment_id,
        )
        for _ in range(count)
    ]


async def measure(stack: Stack, count: int = SESSIONS) -> Pipeline:
    suite, postgres_url = stack.suite, stack.postgres_url
    assert suite.bus is not None
    site_id = uuid.uuid4()
    envelopes = sessions(site_id, count)
    followup_db = await connect(with_database(postgres_url, suite.databases["followup"]))
    booking = await connect_bus(suite.nats_url, suite.bus.credentials("booking"))
    try:
        js = booking.jetstream(timeout=30.0)
        # Set-up: followup learns the site (its zone) first, as it would from booking.
        site = wrap(
            SiteRegistered(site_id=site_id, name="Bench", timezone="Europe/Paris", locale="en"),
            source="booking",
            subject=site_id,
        )
        await js.publish(site.nats_subject, site.encode(), headers={"Nats-Msg-Id": str(site.id)})
        known = "SELECT 1 FROM sites WHERE site_id = $1"
        await eventually(lambda: followup_db.fetchval(known, site_id), timeout=60)
        planned = """SELECT count(*) FROM followups
                     WHERE site_id = $1 AND kind = 'checkin' AND status = 'scheduled'"""
        began = time.perf_counter()
        acks = [
            await js.publish_async(
                e.nats_subject, e.encode(), stream="BOOKING", headers={"Nats-Msg-Id": str(e.id)}
            )
            for e in envelopes
        ]
        await asyncio.gather(*acks)
        deadline = time.monotonic() + 600
        while await followup_db.fetchval(planned, site_id) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("followup did not plan every check-in in 10 minutes")
            await asyncio.sleep(0.02)
        followup = Throughput(count, time.perf_counter() - began)
    finally:
        await booking.close()
        await followup_db.close()
    raw = await _raw(stack, site_id, count)
    return Pipeline(followup, raw)


async def _raw(stack: Stack, site_id: uuid.UUID, count: int) -> Throughput:
    postgres_url = stack.postgres_url
    name = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
    await ensure_database(postgres_url, name)
    dsn = with_database(postgres_url, name)
    try:
        conn = await connect(dsn)
        try:
            await apply_migrations(conn, BENCH_MIGRATIONS)
        finally:
            await conn.close()
        pool = await create_pool(dsn, max_size=2)
        operator = await connect_bus(stack.suite.nats_url, stack.bench)
        try:
            js = operator.jetstream(timeout=30.0)
            return await raw_consume(
                pool,
                js,
                count,
                "bench-pipeline-raw",
                stream="BOOKING",
                subject=f"booking.{site_id}.SessionCompleted",
            )
        finally:
            await operator.close()
            await pool.close()
    finally:
        await drop_database(postgres_url, name)
