"""What the suite costs when nothing happens: `python -m bench.idle`.

python -m bench.idle [--settle 15] [--seconds 30] [--rounds 2] [--env NAME=VALUE ...]

The stack starts as `make bench` starts it (bench/stack.py), with `pg_stat_statements` loaded,
and is left alone: no site, no booking. After `--settle` seconds (start-up done), each round
resets the statistics and waits `--seconds`; then it prints, per service database, the
statements and commits a second and the CPU of its backends, the CPU a second of each service
process, and the statements grouped by the loop that sends them (outbox relay, timers, notify's
lane workers, ...). Run it on two branches in turn to compare (the rates, not the CPU, are the
steady figures on a shared machine).

Commits come from `pg_stat_database`, which a backend updates at most once a second (an idle
one within 10 s): at idle, in steady state, the counter's lag is the same at both ends of a
window, so its difference over a window of 30 s or more is the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.cpu import CpuMeter, load_average  # noqa: E402
from bench.pg_time import (  # noqa: E402
    PG_SETTINGS,
    Statement,
    count_statements,
    cpu_by_kind,
    processes,
)
from bench.pg_time import statements_now as pg_statements  # noqa: E402
from bench.stack import running_stack  # noqa: E402

SERVICES = ("booking", "notify", "followup", "crisis")

LOOPS: tuple[tuple[str, str], ...] = (
    # (a regular expression over the normalised statement, the loop that sends it)
    (r"^(BEGIN|COMMIT|ROLLBACK)", "BEGIN/COMMIT (relay drains, timer and webhook claims)"),
    (r"pg_try_advisory_xact_lock|FROM outbox WHERE published_at IS NULL", "outbox relay"),
    (r"^LISTEN|^UNLISTEN", "listeners (LISTEN)"),
    (r"FROM notifications WHERE lane = \$1 AND status = 'pending'", "notify lane workers"),
    (r"WITH next AS \( SELECT id FROM notifications", "notify lane workers"),
    (r"webhook_", "notify webhook worker"),
    (r"DELETE FROM \w+ WHERE ctid|now\(\) - \$1::interval", "pruner"),
    (r"min\(due_at\)|due_at <= \$1", "timer schedulers"),
    (r"FROM alerts a JOIN escalation_policies", "crisis escalation auditor"),
    (r"count\(\*\)", "gauges (counts)"),
    (r"^SELECT true$|^SELECT \$1$", "health checks"),
)


def loop_of(query: str) -> str:
    for pattern, loop in LOOPS:
        if re.search(pattern, query):
            return loop
    return "other"


@dataclass
class Round:
    seconds: float
    statements: list[Statement]
    commits: dict[str, float]  # by service
    backend_cpu: dict[str, float]  # by service (its database's backends) or process kind
    service_cpu: dict[str, float]  # by service process


async def commits_now(server_url: str, names: dict[str, str]) -> dict[str, float]:
    admin = await asyncpg.connect(server_url)
    try:
        rows = await admin.fetch(
            "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1::text[])",
            list(names),
        )
    finally:
        await admin.close()
    return {names[r["datname"]]: float(r["xact_commit"]) for r in rows}


async def measure(
    server_url: str, postmaster: int, names: dict[str, str], meter: CpuMeter, seconds: float
) -> Round:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute("SELECT pg_stat_statements_reset()")
        commits_before = await commits_now(server_url, names)
        pg_before = await processes(admin, postmaster, names)
        meter.start()
        began = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - began
        service_cpu = meter.stop()
        pg_after = await processes(admin, postmaster, names)
    finally:
        await admin.close()
    statements = await pg_statements(server_url, names)
    commits_after = await commits_now(server_url, names)
    commits = {s: commits_after.get(s, 0.0) - commits_before.get(s, 0.0) for s in SERVICES}
    return Round(elapsed, statements, commits, cpu_by_kind(pg_before, pg_after), service_cpu)


def report(n: int, r: Round, top: int) -> None:
    per = r.seconds
    print(f"\n== round {n}: {per:.1f} s idle; load average {load_average()}")
    print(
        f"{'database':<10} {'stmts/s':>8} {'commits/s':>9} {'backends CPU ms/s':>18} "
        f"{'service CPU ms/s':>17}"
    )
    totals = [0.0, 0.0, 0.0, 0.0]
    for service in SERVICES:
        calls = sum(s.calls for s in r.statements if s.database == service) / per
        commits = r.commits.get(service, 0.0) / per
        backends = r.backend_cpu.get(service, 0.0) * 1000 / per
        own = r.service_cpu.get(service, 0.0) * 1000 / per
        row = [calls, commits, backends, own]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(f"{service:<10} {calls:8.2f} {commits:9.2f} {backends:18.2f} {own:17.2f}")
    print(f"{'all four':<10} {totals[0]:8.2f} {totals[1]:9.2f} {totals[2]:18.2f} {totals[3]:17.2f}")
    others = {k: v for k, v in r.backend_cpu.items() if k not in SERVICES}
    print(
        "other PostgreSQL processes, CPU ms/s: "
        + ", ".join(
            f"{k} {v * 1000 / per:.2f}" for k, v in sorted(others.items(), key=lambda kv: -kv[1])
        )
    )
    nats = r.service_cpu.get("nats", 0.0) * 1000 / per
    print(f"NATS server CPU ms/s: {nats:.2f}")
    for service in SERVICES:
        mine = [s for s in r.statements if s.database == service]
        by_loop: dict[str, float] = defaultdict(float)
        for s in mine:
            by_loop[loop_of(s.query)] += s.calls / per
        loops = sorted(by_loop.items(), key=lambda kv: -kv[1])
        print(
            f"-- {service}: statements/s by loop: "
            + ", ".join(f"{loop} {rate:.2f}" for loop, rate in loops)
        )
        for s in sorted(mine, key=lambda s: -s.calls)[:top]:
            print(f"   {s.calls / per:7.2f}/s  [{loop_of(s.query)}]  {s.query[:90]}")


async def run(args: argparse.Namespace) -> None:
    env = dict(item.split("=", 1) for item in args.env)
    async with running_stack(env, postgres_settings=PG_SETTINGS) as stack:
        suite = stack.suite
        await count_statements(stack.postgres_url)
        names = {suite.databases[s]: s for s in SERVICES}
        pids = {name: p.pid for name, p in suite.processes.items() if p.pid is not None}
        meter = CpuMeter({**pids, "nats": stack.nats_pid}, {})
        print(f"started; settling {args.settle:.0f} s; load {load_average()}", flush=True)
        await asyncio.sleep(args.settle)
        rounds = []
        for n in range(1, args.rounds + 1):
            rounds.append(
                await measure(stack.postgres_url, stack.postgres_pid, names, meter, args.seconds)
            )
            report(n, rounds[-1], args.top)
        seconds = sum(r.seconds for r in rounds)
        calls = sum(s.calls for r in rounds for s in r.statements) / seconds
        commits = sum(sum(r.commits.values()) for r in rounds) / seconds
        backends = sum(r.backend_cpu.get(s, 0.0) for r in rounds for s in SERVICES) / seconds
        own = sum(r.service_cpu.get(s, 0.0) for r in rounds for s in SERVICES) / seconds
        print(
            f"\nall rounds: {calls:.2f} statements/s, {commits:.2f} commits/s, service "
            f"backends {backends * 1000:.2f} ms CPU/s, services {own * 1000:.2f} ms CPU/s",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after start-up")
    parser.add_argument("--seconds", type=float, default=30.0, help="each round, s")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--top", type=int, default=10, help="statements shown per database")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the four services"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
