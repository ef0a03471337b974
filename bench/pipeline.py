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

Alone, for an A/B of followup's batch path (the raw limit is left out unless `--raw`):

python -m bench.pipeline [--sessions 2000] [--rounds 3] [--raw] [--profile followup-stacks.txt]

Per round: the rate, each process's CPU per event (followup's is the path's own cost) and the
load average; `--profile` samples followup with py-spy during the first round and prints where
its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.consumer import raw_consume
from bench.cpu import CpuMeter, load_average
from bench.measure import Throughput
from bench.profile_booking import py_spy_record, summarize
from bench.stack import Stack, running_stack
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
    followup = await planned(stack, count)
    raw = await _raw(stack, followup.site_id, count)
    return Pipeline(followup.throughput, raw)


@dataclass(frozen=True)
class _Planned:
    site_id: uuid.UUID
    throughput: Throughput


async def planned(
    stack: Stack, count: int, on_start: Callable[[], object] = lambda: None
) -> _Planned:
    """`count` sessions of a fresh site until followup has planned each one's check-in;
    `on_start` is called once the site is known, just before the timed window."""
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
        on_start()
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
    return _Planned(site_id, followup)


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


async def _rounds(args: argparse.Namespace) -> None:
    async with running_stack(dict(item.split("=", 1) for item in args.env)) as stack:
        pids = {n: p.pid for n, p in stack.suite.processes.items() if p.pid is not None}
        meter = CpuMeter(
            {**pids, "nats": stack.nats_pid, "bench": os.getpid()},
            {"postgresql": stack.postgres_pid},
        )
        await planned(stack, args.warmup)  # untimed: connections, caches, plans
        for number in range(1, args.rounds + 1):
            load_before = load_average()
            spy = (
                py_spy_record(pids["followup"], args.profile, rate=197)
                if args.profile and number == 1
                else None
            )
            found = await planned(stack, args.sessions, meter.start)
            spent = meter.stop()
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
                await asyncio.to_thread(spy.wait)
            per = {name: cpu / args.sessions * 1000 for name, cpu in spent.items()}
            cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in per.items())
            print(
                f"round {number}: {found.throughput.per_second:,.0f} events/s "
                f"({args.sessions} in {found.throughput.seconds:.2f} s); "
                f"load {load_before} -> {load_average()}\n  CPU ms per event: {cpu}",
                flush=True,
            )
            if args.raw:
                raw = await _raw(stack, found.site_id, args.sessions)
                print(f"  raw limit {raw.per_second:,.0f}/s", flush=True)
            if spy is not None:
                collapsed = await asyncio.to_thread(args.profile.read_text)
                for part, share in summarize(collapsed):
                    print(f"  {share:6.1%}  {part}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="events a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="untimed events first")
    parser.add_argument("--raw", action="store_true", help="the raw limit after each round")
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks, round 1")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for services")
    asyncio.run(_rounds(parser.parse_args()))


if __name__ == "__main__":
    main()
