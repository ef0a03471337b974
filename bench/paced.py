"""Only booking's paced measurement, against the whole suite: quick rounds for an A/B.

python -m bench.paced [--rate 100] [--seconds 20] [--rounds 3] [--warmup 3] [--gc-trace]
                      [--env NAME=VALUE ...] [--profile booking-stacks.txt]

The stack starts as `make bench` starts it (bench/stack.py); set-up (site, staff, clients) and
a warm-up window at the same pace come before the timed rounds, and each round waits until
notify has sent every confirmation of the previous one. Per round it prints booking's latency
percentiles, each process's CPU per booking, booking's RSS and the load average. `--env`
passes settings to the four services; `--gc-trace` records booking's garbage collections
(bench/gctrace) and prints the pauses that fell inside each timed window; `--profile` samples
booking with py-spy during the first round and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.booking_load import BookingLoad, Latencies  # noqa: E402
from bench.cpu import CpuMeter, load_average  # noqa: E402
from bench.e2e import _until_notify_is_idle  # noqa: E402
from bench.profile_booking import py_spy_record, summarize  # noqa: E402
from bench.stack import running_stack  # noqa: E402

GC_TRACE = Path(__file__).resolve().parent / "gctrace"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def gc_pauses(trace: Path, began: float, ended: float) -> str:
    """The collections recorded in `trace` between two wall-clock times, by generation."""
    counts = [0, 0, 0]
    worst = [0.0, 0.0, 0.0]
    total = 0.0
    if trace.exists():
        for line in trace.read_text().splitlines():
            at, gen, paused, _ = line.split()
            if began <= float(at) <= ended:
                g = int(gen)
                counts[g] += 1
                worst[g] = max(worst[g], float(paused))
                total += float(paused)
    parts = ", ".join(f"gen{g} {counts[g]} (max {worst[g] * 1000:.1f} ms)" for g in range(3))
    return f"gc: {parts}; {total * 1000:.0f} ms paused in all"


def describe(paced: Latencies) -> str:
    ms = {p: paced.percentile(p) * 1000 for p in (50, 90, 99)}
    top = max(paced.ok, default=float("nan")) * 1000
    return (
        f"{len(paced.ok)} ok, {paced.failed} failed, p50 {ms[50]:.0f} ms, p90 {ms[90]:.0f} ms, "
        f"p99 {ms[99]:.0f} ms, max {top:.0f} ms"
    )


async def run(args: argparse.Namespace) -> None:
    env = dict(item.split("=", 1) for item in args.env)
    trace_dir = Path(tempfile.mkdtemp(prefix="bench-gc-")) if args.gc_trace else None
    if trace_dir is not None:
        env |= {"PYTHONPATH": str(GC_TRACE), "GC_TRACE_DIR": str(trace_dir)}
    async with running_stack(env) as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        pids = {name: p.pid for name, p in suite.processes.items() if p.pid is not None}
        booking = pids["booking"]
        meter = CpuMeter(
            {**pids, "nats": stack.nats_pid, "load generator": os.getpid()},
            {"postgresql": stack.postgres_pid},
        )
        if args.warmup > 0:
            await load.paced(args.rate, args.warmup)
        for number in range(1, args.rounds + 1):
            await _until_notify_is_idle(suite.database_url("notify"))
            rss_before, load_before = rss_mib(booking), load_average()
            spy = (
                py_spy_record(booking, args.profile, rate=97, seconds=args.seconds)
                if args.profile and number == 1
                else None
            )
            meter.start()
            began = time.time()
            paced = await load.paced(args.rate, args.seconds)
            ended = time.time()
            spent = meter.stop()
            per = {name: cpu / max(1, len(paced.ok)) * 1000 for name, cpu in spent.items()}
            cpu = ", ".join(f"{name} {ms:.1f}" for name, ms in per.items())
            print(
                f"round {number}: {args.rate:.0f}/s for {args.seconds:.0f} s: {describe(paced)}\n"
                f"  CPU ms per booking: {cpu}; all {sum(per.values()):.1f}\n"
                f"  booking RSS {rss_before:.0f} -> {rss_mib(booking):.0f} MiB; "
                f"load {load_before} -> {load_average()}",
                flush=True,
            )
            if spy is not None:
                await asyncio.to_thread(spy.wait)
                for part, share in summarize(await asyncio.to_thread(args.profile.read_text)):
                    print(f"  {share:6.1%}  {part}", flush=True)
            if trace_dir is not None:
                print(f"  {gc_pauses(trace_dir / f'{booking}.gc', began, ended)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="each timed window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds first")
    parser.add_argument("--gc-trace", action="store_true", help="record booking's collections")
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks, round 1")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for services")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
