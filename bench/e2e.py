"""The end-to-end benchmarks: all four services running, driven through their HTTP APIs,
each figure beside PostgreSQL's own limit measured in the same run."""

import os
import statistics
from dataclasses import dataclass, field

from bench.booking_load import BookingLoad, Latencies
from bench.paging import Pager
from bench.pgbench import single_row_inserts
from bench.stack import running_stack

IN_FLIGHT = 16
PACED_RATE = 100.0
PACED_SECONDS = 3.0  # a service slower than the pace drains the queue after the window
PAGES = 20
PAGE_INTERVAL = 0.25

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

    @property
    def share(self) -> float:
        return self.flat.per_second / self.pgbench_tps


@dataclass
class EndToEnd:
    runs: list[BookingRun] = field(default_factory=list)
    pages: Latencies = field(default_factory=Latencies)

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


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(repeat: int, seconds: float) -> EndToEnd:
    result = EndToEnd()
    async with running_stack() as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        pager = await Pager.prepare(suite, PAGES)
        booking_pid = suite.processes["booking"].pid
        assert booking_pid is not None
        server_url = stack.postgres_url
        for number in range(1, repeat + 1):
            cpu_before = _cpu_seconds(booking_pid)
            flat = await load.flat_out(IN_FLIGHT, seconds)
            cpu_ms = (_cpu_seconds(booking_pid) - cpu_before) / max(1, len(flat.ok)) * 1000
            tps = await single_row_inserts(server_url, IN_FLIGHT, seconds)
            paced = await load.paced(PACED_RATE, min(seconds, PACED_SECONDS))
            run = BookingRun(flat, tps, paced, cpu_ms)
            result.runs.append(run)
            print(
                f"e2e run {number}: booking {flat.per_second:,.0f}/s "
                f"(p50 {flat.percentile(50) * 1000:.0f} ms), pgbench {tps:,.0f} tps "
                f"({run.share:.1%}); paced {PACED_RATE:.0f}/s p99 "
                f"{paced.percentile(99) * 1000:.0f} ms; {cpu_ms:.1f} ms CPU per booking",
                flush=True,
            )
        result.pages = await pager.page_each(PAGE_INTERVAL)
        print(
            f"pages: p50 {result.pages.percentile(50) * 1000:.0f} ms, "
            f"p99 {result.pages.percentile(99) * 1000:.0f} ms",
            flush=True,
        )
    return result


def spread(values: list[float]) -> str:
    """`median (min to max)` of ratios, as percentages."""
    if not values:
        return "-"
    return f"{statistics.median(values):.1%} ({min(values):.1%} to {max(values):.1%})"
