"""Run the benchmarks, print the figures and write docs/performance.md with its charts.

python bench/run.py [--events 2000] [--repeat 3] [--seconds 5] [--no-e2e] [--no-claims]
                    [--no-write]

First the backbone (relay, consumer) against raw NATS and PostgreSQL and the schedulers' claim
cost at 10k and 1M rows, then the end-to-end paths with all four services running (booking,
paging) against pgbench in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402

from bench import availability, charts, claims, consumer, e2e, relay  # noqa: E402
from bench.cpu import load_average  # noqa: E402
from bench.measure import Comparison  # noqa: E402
from bench.report import Machine, table, write_markdown  # noqa: E402
from bench.servers import servers  # noqa: E402
from bench.workload import STREAM  # noqa: E402
from counseling_shared.db import connect, create_pool  # noqa: E402
from counseling_shared.migrations import apply_migrations  # noqa: E402
from counseling_shared.tracing import configure_tracing  # noqa: E402
from devstack.postgres import drop_database, ensure_database, with_database  # noqa: E402

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
REPORT = ROOT / "docs" / "performance.md"


async def measure(
    nats_url: str, server_url: str, events: int, repeat: int
) -> tuple[list[Comparison], Machine]:
    """Each measurement `repeat` times, each on a fresh database. Per path, the run with the
    median ratio is shown (its backbone and raw figures come from that same run), with every
    run's ratio beside it."""
    runs = []
    for number in range(1, repeat + 1):
        runs.append(await _one_run(nats_url, server_url, events))
        shares = ", ".join(f"{c.name.split(':')[0]} {c.share:.0%}" for c in runs[-1])
        print(f"backbone run {number}: {shares}", flush=True)
    best = [_median_run([run[i] for run in runs]) for i in range(len(runs[0]))]
    nc = await nats.connect(nats_url)
    conn = await connect(server_url)
    try:
        machine = Machine.describe(
            nats_server=".".join(
                str(getattr(nc.connected_server_version, part))
                for part in ("major", "minor", "patch")
            ),
            postgres=str(await conn.fetchval("SHOW server_version")).split()[0],
            servers="",
            repeat=repeat,
        )
    finally:
        await conn.close()
        await nc.close()
    return best, machine


def _median_run(same_path: list[Comparison]) -> Comparison:
    ordered = sorted(same_path, key=lambda c: c.share)
    median = ordered[(len(ordered) - 1) // 2]
    return dataclasses.replace(median, shares=tuple(c.share for c in same_path))


async def _one_run(nats_url: str, server_url: str, events: int) -> list[Comparison]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    await ensure_database(server_url, name)
    dsn = with_database(server_url, name)
    nc = await nats.connect(nats_url)
    try:
        conn = await connect(dsn)
        try:
            await apply_migrations(conn, MIGRATIONS)
        finally:
            await conn.close()
        js = nc.jetstream(timeout=10.0)
        pool = await create_pool(dsn, max_size=4)
        try:
            return [
                await relay.compare(pool, js, dsn, events),
                *await consumer.compare(pool, js, events),
            ]
        finally:
            await pool.close()
            await js.delete_stream(STREAM.name)
    finally:
        await nc.close()
        await drop_database(server_url, name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000, help="events per measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the median ratio counts"
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="length of each timed end-to-end window"
    )
    parser.add_argument("--no-e2e", action="store_true", help="only the backbone benchmarks")
    parser.add_argument(
        "--no-claims", action="store_true", help="skip the schedulers' claim cost (1M rows)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave docs/performance.md alone"
    )
    args = parser.parse_args(argv)
    # As in a service process: an SDK tracer provider records the consumer's spans.
    configure_tracing("bench", None)
    with servers() as found:
        print(f"servers ({found.where}): {found.nats_url}, {found.postgres_url}", flush=True)
        results, machine = asyncio.run(
            measure(found.nats_url, found.postgres_url, args.events, max(args.repeat, 1))
        )
        claim_costs = None if args.no_claims else asyncio.run(claims.measure(found.postgres_url))
    machine = dataclasses.replace(machine, servers=found.where, load=load_average())
    print(table(results), flush=True)
    end_to_end = None
    if not args.no_e2e:
        end_to_end = asyncio.run(e2e.measure(max(args.repeat, 1), args.seconds))
        machine = dataclasses.replace(machine, load=f"{machine.load}; after: {load_average()}")
    if not args.no_write:
        if end_to_end is not None:
            charts.latency_histogram(REPORT.with_name(charts.LATENCY_PNG), end_to_end)
            charts.throughput_chart(REPORT.with_name(charts.THROUGHPUT_PNG), results, end_to_end)
        write_markdown(REPORT, results, machine, args.events, end_to_end, claim_costs)
        print(f"written to {REPORT.relative_to(ROOT)}")
    # booking's GET /availability budget: its own section of the same report
    with servers() as found:
        availability.run(found.postgres_url, write=not args.no_write)


if __name__ == "__main__":
    main()
