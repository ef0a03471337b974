"""Run both benchmarks, print the table and write docs/performance.md.

python bench/run.py [--events 20000] [--repeat 3] [--no-write]
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

from bench import consumer, relay  # noqa: E402
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
    """Each measurement `repeat` times, each on a fresh database; keep the best of each path."""
    runs = [await _one_run(nats_url, server_url, events) for _ in range(repeat)]
    best = [
        Comparison(
            first.name,
            max((run[i].backbone for run in runs), key=lambda t: t.per_second),
            max((run[i].raw for run in runs), key=lambda t: t.per_second),
            first.raw_method,
            max((run[i].serial for run in runs), key=lambda t: t.per_second),
            first.serial_method,
        )
        for i, first in enumerate(runs[0])
    ]
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
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the best one counts"
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
    machine = dataclasses.replace(machine, servers=found.where)
    print(table(results))
    if not args.no_write:
        write_markdown(REPORT, results, machine, args.events)
        print(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
