"""Projection rebuilds on stores filled through the running services, old code beside new.

`python -m bench.rebuild_ab --baseline DIR` starts the benchmark stack and fills each service's
event store by driving the services as users would: booking, appointments booked flat out
through its API, then every one rescheduled and a quarter of them cancelled; followup,
SessionCompleted envelopes on booking's stream (as `bench.pipeline` sends them); crisis and
notify, risk flags posted to crisis, each paging the on-call counselor, escalated once, half
of them acknowledged and a quarter resolved (`bench.e2e.fill_crisis`), and every booking's and
page's notification delivered. Then it times each service's `rebuild_projections` on its
own database, alternating the baseline (`DIR/<service>.py`, e.g. the main branch's files) and
the current code, `--rounds` times. Per run: events/s, and CPU milliseconds per 1,000 events
of this process (the fold) and of the PostgreSQL backend (the writes), read from `/proc`,
which move less with the machine's other load than the rates do. `--dump DIR` keeps the filled
databases; `--from-dump DIR` measures on them again, on a server of its own with nothing else
running (a fill takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.booking_load import BookingLoad
from bench.cpu import cpu_seconds
from bench.e2e import _until_notify_is_idle, fill_crisis
from bench.pipeline import measure as run_pipeline
from bench.rebuild import REBUILDS
from bench.stack import Stack, running_stack
from counseling_shared.db import connect
from devstack.postgres import (
    PostgresServer,
    ensure_database,
    postgres_bin_dir,
    with_database,
)

Rebuild = Callable[[Any], Awaitable[dict[str, int]]]


def _baseline(directory: Path, service: str) -> Rebuild:
    path = directory / f"{service}.py"
    spec = importlib.util.spec_from_file_location(f"baseline_{service}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    found: Rebuild = module.rebuild_projections
    return found


async def _booked(load: BookingLoad) -> list[tuple[Any, datetime]]:
    conn = await connect(load.suite.database_url("booking"))
    try:
        rows = await conn.fetch(
            "SELECT id, start_at FROM appointments WHERE status = 'booked' ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r["id"], r["start_at"]) for r in rows]


async def _post_each(load: BookingLoad, requests: list[tuple[str, dict[str, Any]]]) -> None:
    async with load.client() as http:
        semaphore = asyncio.Semaphore(16)

        async def post(path: str, body: dict[str, Any]) -> None:
            async with semaphore, http.post(path, json=body) as answer:
                assert answer.status < 500, await answer.text()

        await asyncio.gather(*(post(path, body) for path, body in requests))


async def _move_all(load: BookingLoad, by: timedelta) -> int:
    """Reschedule every booked appointment `by` later (past the span the load booked, so no
    move collides with another appointment)."""
    moves = [
        (f"/appointments/{i}/reschedule", {"start": (start + by).isoformat()})
        for i, start in await _booked(load)
    ]
    await _post_each(load, moves)
    return len(moves)


async def _cancel_some(load: BookingLoad, share: float) -> int:
    """Cancel every `1/share`-th booked appointment."""
    chosen = [i for i, _ in await _booked(load)][:: max(1, round(1 / share))]
    body = {"reason": "r", "cancelled_by": "center"}
    await _post_each(load, [(f"/appointments/{i}/cancel", body) for i in chosen])
    return len(chosen)


async def fill(stack: Stack, booking_seconds: float, sessions: int, flags: int) -> None:
    suite = stack.suite
    load = await BookingLoad.prepare(suite)
    booked = await load.flat_out(16, booking_seconds)
    print(f"fill: {len(booked.ok):,} appointments booked", flush=True)
    print(f"fill: {await _move_all(load, timedelta(days=7)):,} rescheduled", flush=True)
    print(f"fill: {await _cancel_some(load, 0.25):,} cancelled", flush=True)
    await run_pipeline(stack, sessions)
    print(f"fill: {sessions:,} sessions completed", flush=True)
    await fill_crisis(suite, flags)
    await _until_notify_is_idle(suite.database_url("notify"), within=600)


async def timed(dsn: str, rebuild: Rebuild) -> tuple[int, float, float, float]:
    """(events, seconds, this process's CPU s, the backend's CPU s) of one rebuild."""
    conn = await connect(dsn)
    try:
        events = int(await conn.fetchval("SELECT count(*) FROM events"))
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        cpu, server, began = time.process_time(), cpu_seconds(backend), time.perf_counter()
        await rebuild(conn)
        took = time.perf_counter() - began
        return events, took, time.process_time() - cpu, cpu_seconds(backend) - server
    finally:
        await conn.close()


def dump(stack: Stack, directory: Path) -> None:
    """Each service's database, filled, to `directory/<service>.dump` (pg_dump's own format)."""
    directory.mkdir(parents=True, exist_ok=True)
    for service in REBUILDS:
        dsn = with_database(stack.postgres_url, stack.suite.databases[service])
        tool = str(postgres_bin_dir() / "pg_dump")
        subprocess.run([tool, "-Fc", "-f", str(directory / f"{service}.dump"), dsn], check=True)


async def restore(server: PostgresServer, directory: Path) -> dict[str, str]:
    """The dumps of `dump` restored on `server`: each service's database URL."""
    found = {}
    for service in REBUILDS:
        await ensure_database(server.url(), service)
        dsn = server.url(service)
        tool = str(postgres_bin_dir() / "pg_restore")
        command = [tool, "--no-owner", "--no-acl", "-d", dsn, str(directory / f"{service}.dump")]
        await asyncio.to_thread(subprocess.run, command, check=True)
        found[service] = dsn
    return found


async def _profiled(service: str, dsn: str) -> None:
    """Where the current rebuild's own time goes (cProfile, the functions that took most)."""
    profiler = cProfile.Profile()
    profiler.enable()
    events, took, _, _ = await timed(dsn, REBUILDS[service])
    profiler.disable()
    print(f"{service}: {events:,} events in {took:.2f} s", flush=True)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


async def compare(args: argparse.Namespace, databases: dict[str, str]) -> None:
    for service in args.services:
        if args.profile:
            await _profiled(service, databases[service])
            continue
        variants: dict[str, Rebuild] = {"new": REBUILDS[service]}
        if args.baseline is not None:
            variants = {"old": _baseline(args.baseline, service), **variants}
        for number in range(1, args.rounds + 1):
            for name, rebuild in variants.items():
                events, took, mine, backend = await timed(databases[service], rebuild)
                fold, server = mine / events * 1e6, backend / events * 1e6
                print(
                    f"{service} {name} run {number}: {events:,} events in {took:.2f} s,"
                    f" {events / took:,.0f}/s; CPU per 1,000 events: fold {fold:.0f} ms,"
                    f" PostgreSQL {server:.0f} ms",
                    flush=True,
                )


async def main(args: argparse.Namespace) -> None:
    if args.from_dump is not None:
        with (
            tempfile.TemporaryDirectory(prefix="bench-rebuild-") as scratch,
            PostgresServer(Path(scratch) / "data") as server,
        ):
            await compare(args, await restore(server, args.from_dump))
        return
    async with running_stack() as stack:
        await fill(stack, args.booking_seconds, args.sessions, args.flags)
        if args.dump is not None:
            dump(stack, args.dump)
        databases = {
            service: with_database(stack.postgres_url, stack.suite.databases[service])
            for service in REBUILDS
        }
        await compare(args, databases)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a directory of <service>.py rebuilds")
    parser.add_argument("--profile", action="store_true", help="profile the current code once")
    parser.add_argument("--dump", type=Path, help="keep the filled databases in this directory")
    parser.add_argument(
        "--from-dump", type=Path, help="measure on these dumps (a server of its own, no stack)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--booking-seconds", type=float, default=40.0)
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--flags", type=int, default=300)
    parser.add_argument("--services", nargs="+", default=list(REBUILDS), choices=list(REBUILDS))
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
