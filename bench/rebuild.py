"""Projection rebuild speed per service, in events/s, beside the raw limit of the same work.

Each service's `rebuild_projections` (what `python -m <service> rebuild-projections` and
`counselctl rebuild` run) over the event store the other end-to-end benchmarks filled, on the
service's own database while the stack runs. Its raw limit, on the same database right after:
every event of the store read in one query (`ORDER BY stream_id, version`) and one row per
stream written with asyncpg `executemany` into a temporary table, in one transaction rolled
back afterwards: the least a rebuild must do (read every event, write each aggregate's row).

Over rows that are already right, booking's rebuild only compares (it rewrites the appointments
that differ), so it is also timed once more with its appointments and slot claims emptied first:
a projection to write again from nothing, the case the comparison does not help.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.measure import Throughput
from bench.stack import Stack
from booking.application.rebuild import rebuild_projections as rebuild_booking
from counseling_shared.db import connect
from crisis.application.rebuild import rebuild_projections as rebuild_crisis
from devstack.postgres import with_database
from followup.application.rebuild import rebuild_projections as rebuild_followup
from notify.application.rebuild import rebuild_projections as rebuild_notify

TARGET = 20_000.0  # events/s

# Tables emptied before a second timing of the service's rebuild (the rebuild fills them again).
EMPTIED_FIRST: dict[str, tuple[str, ...]] = {"booking": ("appointments", "slot_claims")}

Rebuild = Callable[[Any], Awaitable[dict[str, int]]]
REBUILDS: dict[str, Rebuild] = {
    "booking": rebuild_booking,
    "followup": rebuild_followup,
    "notify": rebuild_notify,
    "crisis": rebuild_crisis,
}


@dataclass(frozen=True)
class RebuildSpeed:
    service: str
    rebuild: Throughput  # events in the store / seconds of the rebuild
    raw: Throughput
    streams: int
    rows: int  # aggregates the rebuild wrote (its own count)
    emptied: tuple[str, ...] = ()  # tables emptied before this rebuild, if any

    @property
    def label(self) -> str:
        if not self.emptied:
            return self.service
        return f"{self.service}, {' and '.join(self.emptied)} emptied first"

    @property
    def share(self) -> float:
        return self.rebuild.per_second / self.raw.per_second

    @property
    def met(self) -> bool:
        return self.rebuild.per_second >= TARGET


async def measure_service(
    stack: Stack, service: str, emptied: tuple[str, ...] = ()
) -> RebuildSpeed:
    dsn = with_database(stack.postgres_url, stack.suite.databases[service])
    conn = await connect(dsn)
    try:
        events = int(await conn.fetchval("SELECT count(*) FROM events"))
        streams = int(await conn.fetchval("SELECT count(DISTINCT stream_id) FROM events"))
        if emptied:
            await conn.execute(f"TRUNCATE {', '.join(emptied)}")
        began = time.perf_counter()
        counts = await REBUILDS[service](conn)
        rebuilt = Throughput(events, time.perf_counter() - began)
        raw = await _raw(conn, events)
    finally:
        await conn.close()
    return RebuildSpeed(service, rebuilt, raw, streams, sum(counts.values()), emptied)


async def _raw(conn: Any, events: int) -> Throughput:
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(
            "CREATE TEMPORARY TABLE bench_rebuilt (stream_id text PRIMARY KEY, version integer,"
            " state jsonb) ON COMMIT DROP"
        )
        began = time.perf_counter()
        rows = await conn.fetch(
            "SELECT stream_id, version, data FROM events ORDER BY stream_id, version"
        )
        last: dict[str, tuple[str, int, Any]] = {}
        for row in rows:
            last[row["stream_id"]] = (row["stream_id"], row["version"], row["data"])
        await conn.executemany(
            "INSERT INTO bench_rebuilt (stream_id, version, state) VALUES ($1, $2, $3)",
            list(last.values()),
        )
        took = time.perf_counter() - began
    finally:
        await transaction.rollback()
    return Throughput(events, took)


async def measure(stack: Stack) -> list[RebuildSpeed]:
    speeds = []
    cases = [(service, ()) for service in REBUILDS] + list(EMPTIED_FIRST.items())
    for service, emptied in cases:
        speed = await measure_service(stack, service, emptied)
        print(
            f"rebuild {speed.label}: {speed.rebuild.events:,} events in"
            f" {speed.rebuild.seconds:.2f} s, {speed.rebuild.per_second:,.0f}/s;"
            f" raw {speed.raw.per_second:,.0f}/s",
            flush=True,
        )
        speeds.append(speed)
    return speeds
