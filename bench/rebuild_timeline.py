"""Where one projection rebuild's time goes: each call on its connection, with its wall time.

`python -m bench.rebuild_timeline DSN SERVICE [--runs N]` rebuilds SERVICE's projections on
DSN (e.g. a database restored by `bench.rebuild_ab --from-dump`, or `/tmp/...` kept by hand)
`--runs` times, each on a fresh connection as `make bench` does, and prints for the last run
every call of 1 ms or more (start and end in ms from the rebuild's start, its duration) and
the calls' totals. What is not a call (the gaps) is this process folding, or waiting for its
turn on a shared machine. Statement preparations (`_get_statement`) are shown apart and also
inside the call that needed them. The instrumentation is asyncpg's methods wrapped in this
process only: a tool for reading, not for timing alternately (use `bench.rebuild_ab`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from asyncpg.connection import Connection

from bench.cpu import cpu_seconds
from bench.rebuild import REBUILDS
from counseling_shared.db import connect

# (start, end, call, its first argument's text)
Calls = list[tuple[float, float, str, str]]

_WRAPPED = (
    "execute",
    "executemany",
    "fetch",
    "fetchval",
    "fetchrow",
    "copy_records_to_table",
    "set_type_codec",
    "_get_statement",
    "_introspect_types",
)


def _timed(calls: Calls, name: str, call: Callable[..., Awaitable[Any]]) -> Any:
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await call(self, *args, **kwargs)
        finally:
            text = args[0] if args and isinstance(args[0], str) else ""
            calls.append((began, time.perf_counter(), name, " ".join(text.split())[:90]))

    return timed


def instrument(calls: Calls) -> None:
    """Every connection's calls, and cursors' opening and fetches, recorded into `calls`."""
    for name in _WRAPPED:
        setattr(Connection, name, _timed(calls, name, getattr(Connection, name)))
    cursor = asyncpg.cursor.Cursor
    setattr(cursor, "fetch", _timed(calls, "cursor.fetch", cursor.fetch))  # noqa: B010
    opening = getattr(cursor, "_init")  # noqa: B009 (private: the portal's first Bind)
    setattr(cursor, "_init", _timed(calls, "cursor.open", opening))  # noqa: B010


def report(calls: Calls, began: float) -> None:
    totals: dict[str, list[float]] = defaultdict(list)
    for start, end, name, text in sorted(calls):
        ms = (end - start) * 1000
        totals[f"{name} {text}"].append(ms)
        if ms >= 1.0:
            at, until = 1000 * (start - began), 1000 * (end - began)
            print(f"  {at:7.1f} {until:7.1f} {ms:6.1f}  {name} {text}")
    print("  totals (calls, ms):")
    for key, values in sorted(totals.items(), key=lambda kv: -sum(kv[1]))[:30]:
        print(f"    {len(values):5d} {sum(values):8.1f}  {key}")


async def main(args: argparse.Namespace) -> None:
    calls: Calls = []
    instrument(calls)
    for run in range(1, args.runs + 1):
        conn = await connect(args.dsn)
        try:
            events = int(await conn.fetchval("SELECT count(*) FROM events"))
            backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            calls.clear()
            cpu, server = time.process_time(), cpu_seconds(backend)
            began = time.perf_counter()
            await REBUILDS[args.service](conn)
            took = time.perf_counter() - began
            cpu, server = time.process_time() - cpu, cpu_seconds(backend) - server
        finally:
            await conn.close()
        print(
            f"run {run}: {events:,} events in {took * 1000:.0f} ms ({events / took:,.0f}/s);"
            f" CPU: this process {cpu * 1000:.0f} ms, PostgreSQL {server * 1000:.0f} ms",
            flush=True,
        )
    report(calls, began)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dsn")
    parser.add_argument("service", choices=list(REBUILDS))
    parser.add_argument("--runs", type=int, default=2, help="the last one is shown")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
