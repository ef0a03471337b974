"""The end-to-end benchmarks: all four services running, driven through their HTTP APIs,
each figure beside PostgreSQL's own limit measured in the same run."""

import os
import statistics
import time
from dataclasses import dataclass, field

from bench import backlog, pipeline, rebuild
from bench.backlog import Backlog
from bench.booking_load import BookingLoad, Latencies
from bench.cpu import CpuMeter
from bench.paging import Pager
from bench.pgbench import single_row_inserts
from bench.pipeline import Pipeline
from bench.rebuild import RebuildSpeed
from bench.stack import running_stack
from counseling_shared.db import connect
from counseling_shared.waiting import poll_until
from tests.e2e.harness import Suite

IN_FLIGHT = 16
PACED_RATE = 100.0
PACED_SECONDS = 3.0  # a service slower than the pace drains the queue after the window
PAGES = 20
PAGE_INTERVAL = 0.25
# Crisis's store before its rebuild is timed: the pages above leave about a hundred events, a
# rate of fixed costs only. These flags, each escalated once, half of them acknowledged and a
# quarter resolved, add about 11 events each (~4,300 in all; about 40 s at a load average of 5
# to 6, half of it registering their clients through booking).
REBUILD_FLAGS = 400

BOOKING_TARGET = 0.10  # of pgbench's single-row inserts
PACED_P99_TARGET = 0.050
PAGE_P99_TARGET = 0.100


@dataclass(frozen=True)
class BookingRun:
    """One run: booking flat out, pgbench with as many clients, booking paced."""

    flat: Latencies
    pgbench_tps: float
    paced: Latencies
    cpu_ms_per_booking: float  # booking's own CPU seconds (user + system) per booking
    cpu_ms_by_process: dict[str, float] = field(default_factory=dict)
    """Each process's CPU per booking during the flat-out window: the four services,
    PostgreSQL (postmaster and backends), NATS and the load generator (this process, which
    also relays the services' log lines)."""

    @property
    def share(self) -> float:
        return self.flat.per_second / self.pgbench_tps


@dataclass
class EndToEnd:
    runs: list[BookingRun] = field(default_factory=list)
    pages: Latencies = field(default_factory=Latencies)
    pipeline: Pipeline | None = None
    rebuilds: list[RebuildSpeed] = field(default_factory=list)
    backlog: Backlog | None = None

    @property
    def median_run(self) -> BookingRun:
        """The run whose booking/pgbench ratio is the median: its own figures are shown."""
        ordered = sorted(self.runs, key=lambda r: r.share)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def shares(self) -> list[float]:
        return [r.share for r in self.runs]

    @property
    def paced_p99s(self) -> list[float]:
        return [r.paced.percentile(99) for r in self.runs]


async def measure(repeat: int, seconds: float) -> EndToEnd:
    result = EndToEnd()
    async with running_stack() as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        pager = await Pager.prepare(suite, PAGES)
        behind_backlog = await Pager.prepare(suite, PAGES)
        services = {name: p.pid for name, p in suite.processes.items() if p.pid is not None}
        meter = CpuMeter(
            {**services, "nats": stack.nats_pid, "load generator": os.getpid()},
            {"postgresql": stack.postgres_pid},
        )
        server_url = stack.postgres_url
        for number in range(1, repeat + 1):
            meter.start()
            flat = await load.flat_out(IN_FLIGHT, seconds)
            spent = meter.stop()
            per_booking = {name: cpu / max(1, len(flat.ok)) * 1000 for name, cpu in spent.items()}
            cpu_ms = per_booking["booking"]
            tps = await single_row_inserts(server_url, IN_FLIGHT, seconds)
            paced = await load.paced(PACED_RATE, min(seconds, PACED_SECONDS))
            run = BookingRun(flat, tps, paced, cpu_ms, per_booking)
            result.runs.append(run)
            print(
                f"e2e run {number}: booking {flat.per_second:,.0f}/s "
                f"(p50 {flat.percentile(50) * 1000:.0f} ms), pgbench {tps:,.0f} tps "
                f"({run.share:.1%}); paced {PACED_RATE:.0f}/s p99 "
                f"{paced.percentile(99) * 1000:.0f} ms; {cpu_ms:.1f} ms CPU per booking",
                flush=True,
            )
        # "Idle" means idle: the bookings' confirmations are still being sent after the paced
        # window (not timed).
        await _until_notify_is_idle(suite.database_url("notify"))
        result.pages = await pager.page_each(PAGE_INTERVAL)
        print(
            f"pages: p50 {result.pages.percentile(50) * 1000:.0f} ms, "
            f"p99 {result.pages.percentile(99) * 1000:.0f} ms",
            flush=True,
        )
        result.pipeline = found = await pipeline.measure(stack)
        print(
            f"SessionCompleted → check-in rows: {found.followup.per_second:,.0f}/s, "
            f"raw consumer {found.raw.per_second:,.0f}/s ({found.share:.1%})",
            flush=True,
        )
        await fill_crisis(stack.suite, REBUILD_FLAGS)
        # After the pipeline (followup's store is full) and before the backlog (which leaves
        # notify's lane draining).
        result.rebuilds = await rebuild.measure(stack)
        result.backlog = behind = await backlog.measure(stack, behind_backlog, PAGE_INTERVAL)
        print(
            f"pages behind {behind.queued:,} bulk messages: p50 "
            f"{behind.pages.percentile(50) * 1000:.0f} ms, p99 "
            f"{behind.pages.percentile(99) * 1000:.0f} ms; {behind.at_last_page:,} undelivered "
            f"when the last page arrived",
            flush=True,
        )
    return result


def spread(values: list[float]) -> str:
    """`median (min to max)` of ratios, as percentages."""
    if not values:
        return "-"
    return f"{statistics.median(values):.1%} ({min(values):.1%} to {max(values):.1%})"


async def fill_crisis(suite: Suite, flags: int) -> None:
    """`flags` risk flags paged at a site whose first level times out after a second: each
    alert escalates once (its second level waits 6 hours), then the on-call counselor
    acknowledges half of them and resolves a quarter, through crisis's API."""
    began = time.perf_counter()
    pager = await Pager.prepare(suite, flags, ack_timeouts=("PT1S", "PT6H"))
    prepared = time.perf_counter()
    await pager.flag_all(concurrency=8)
    paged = time.perf_counter()
    alerts = list(pager.sent)
    conn = await connect(suite.database_url("crisis"))

    async def escalated() -> bool:
        count = await conn.fetchval(
            "SELECT count(*) FROM alert_pages WHERE level = 2 AND alert_id = ANY($1::uuid[])",
            alerts,
        )
        return bool(count >= len(alerts))

    try:
        if not await poll_until(escalated, 120, every=0.5):
            print("crisis: not every alert escalated within 120 s", flush=True)
    finally:
        await conn.close()
    escalated_at = time.perf_counter()
    await pager.answer(acknowledged=2, resolved=4)
    await _until_notify_is_idle(suite.database_url("notify"))
    print(
        f"crisis: {flags} flags paged, escalated and answered in "
        f"{time.perf_counter() - began:.0f} s (clients {prepared - began:.0f} s, paging "
        f"{paged - prepared:.0f} s, escalations {escalated_at - paged:.0f} s)",
        flush=True,
    )


async def _until_notify_is_idle(dsn: str, within: float = 120.0) -> None:
    """Wait (at most `within` s) until notify has no message pending."""
    conn = await connect(dsn)

    async def idle() -> bool:
        pending = await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'pending'")
        return not pending

    try:
        await poll_until(idle, within, every=0.5)
    finally:
        await conn.close()
