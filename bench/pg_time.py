"""Where PostgreSQL's time goes, per booking: `python -m bench.pg_time`.

python -m bench.pg_time [--rate 100] [--seconds 20] [--flat 16] [--idle 10] [--top 8]

The stack starts as `make bench` starts it (bench/stack.py), except that PostgreSQL loads
`pg_stat_statements` (with planning tracked). After set-up and a warm-up, the statistics are
reset; then an idle window (`--idle` s, nothing booked: the schedulers', workers' and relays'
own looks for work) and a loaded one (paced at `--rate` for `--seconds`, or `--flat N` in
flight), which lasts until notify has sent every confirmation. For each window and each
service's database it prints: commits, statements and the statements' own time per booking
(per second when idle), the top statements by time (planning + execution) with their calls,
mean and rows, the CPU of that database's backends from `/proc`, and what the statements'
time does not explain; then the server's other processes (WAL writer, checkpointer, I/O
workers, autovacuum) and the WAL written.

Statement time is wall time inside the backend (it includes waiting: locks, I/O, the WAL
flush of a COMMIT, being descheduled), not CPU; the backends' CPU is from `/proc`. Neither
counts the round trip's socket work in the client.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.booking_load import BookingLoad, Latencies  # noqa: E402
from bench.cpu import _TICKS, _stat_fields, load_average  # noqa: E402
from bench.stack import running_stack  # noqa: E402
from devstack.postgres import with_database  # noqa: E402

PG_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track_planning": "on",
    "pg_stat_statements.max": "5000",
}
"""Bench only: `make run` and the tests start PostgreSQL without them."""

QUERY_WIDTH = 100
EXITED = "exited processes (autovacuum workers, closed connections)"


def _own_cpu(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0


def _reaped_cpu(pid: int) -> float:
    """CPU of `pid`'s children that have exited and been waited for."""
    fields = _stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / _TICKS if fields else 0.0


@dataclass
class Processes:
    """The postmaster's children by pid: their CPU and what pg_stat_activity calls them."""

    cpu: dict[int, float] = field(default_factory=dict)
    kind: dict[int, str] = field(default_factory=dict)
    postmaster: float = 0.0
    reaped: float = 0.0


async def processes(admin: asyncpg.Connection, postmaster: int, names: dict[str, str]) -> Processes:
    rows = await admin.fetch("SELECT pid, backend_type, datname FROM pg_stat_activity")
    found = Processes(postmaster=_own_cpu(postmaster), reaped=_reaped_cpu(postmaster))
    for row in rows:
        if row["pid"] == admin.get_server_pid():
            continue
        database = row["datname"]
        if row["backend_type"] == "client backend":
            kind = names.get(database, f"other client backends ({database})")
        else:
            kind = row["backend_type"]
        found.kind[row["pid"]] = kind
        found.cpu[row["pid"]] = _own_cpu(row["pid"])
    return found


def cpu_by_kind(before: Processes, after: Processes) -> dict[str, float]:
    """CPU seconds between two looks, by database (client backends) or process kind. A
    process that exits meanwhile moves its CPU into the postmaster's reaped children."""
    spent: dict[str, float] = defaultdict(float)
    for pid, kind in after.kind.items():
        spent[kind] += after.cpu[pid] - before.cpu.get(pid, 0.0)
    gone = sum(cpu for pid, cpu in before.cpu.items() if pid not in after.cpu)
    spent[EXITED] += after.reaped - before.reaped - gone
    spent["postmaster"] += after.postmaster - before.postmaster
    return dict(spent)


@dataclass(frozen=True)
class Statement:
    database: str
    query: str
    calls: int
    plan_ms: float
    exec_ms: float
    rows: int
    wal_bytes: int

    @property
    def total_ms(self) -> float:
        return self.plan_ms + self.exec_ms


@dataclass
class Window:
    label: str
    seconds: float
    bookings: int
    cpu: dict[str, float]  # seconds, by database or process kind
    statements: list[Statement]
    counted: Counters


async def reset(server_url: str, databases: list[str]) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute("SELECT pg_stat_statements_reset()")
        for kind in ("wal", "io", "bgwriter", "checkpointer"):
            await admin.execute(f"SELECT pg_stat_reset_shared('{kind}')")
    finally:
        await admin.close()
    for database in databases:  # pg_stat_reset() resets only the database it runs in
        conn = await asyncpg.connect(with_database(server_url, database))
        try:
            await conn.execute("SELECT pg_stat_reset()")
        finally:
            await conn.close()


async def statements_now(server_url: str, names: dict[str, str]) -> list[Statement]:
    """pg_stat_statements, which each backend updates as a statement ends."""
    admin = await asyncpg.connect(server_url)
    try:
        # Only the services' own roles: the benchmark's superuser look-ups are left out.
        rows = await admin.fetch(
            """SELECT d.datname, s.query, s.calls, s.total_plan_time, s.total_exec_time, s.rows,
                      s.wal_bytes
               FROM pg_stat_statements s
               JOIN pg_database d ON d.oid = s.dbid
               JOIN pg_roles r ON r.oid = s.userid
               WHERE d.datname = ANY($1::text[]) AND NOT r.rolsuper""",
            list(names),
        )
    finally:
        await admin.close()
    return [
        Statement(
            names[r["datname"]],
            " ".join(r["query"].split()),
            r["calls"],
            r["total_plan_time"],
            r["total_exec_time"],
            r["rows"],
            int(r["wal_bytes"]),
        )
        for r in rows
    ]


@dataclass
class Counters:
    """The cumulative statistics a backend reports only every second or so (and an idle
    one within FLUSH_WAIT): commits, WAL, rows written, index scans."""

    commits: dict[str, float]
    rollbacks: dict[str, float]
    wal: dict[str, float]
    writes: dict[str, list[tuple[str, int, int, int]]]  # table, inserted, updated, hot
    unread: dict[str, list[str]]


async def counters(server_url: str, names: dict[str, str]) -> Counters:
    admin = await asyncpg.connect(server_url)
    try:
        db_rows = await admin.fetch(
            "SELECT datname, xact_commit, xact_rollback FROM pg_stat_database "
            "WHERE datname = ANY($1::text[])",
            list(names),
        )
        wal_row = await admin.fetchrow("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
        io_row = await admin.fetchrow(
            "SELECT coalesce(sum(writes), 0) AS writes, coalesce(sum(fsyncs), 0) AS fsyncs "
            "FROM pg_stat_io WHERE object = 'wal'"
        )
    finally:
        await admin.close()
    assert wal_row is not None  # one row each, always
    assert io_row is not None
    unread: dict[str, list[str]] = {}
    writes: dict[str, list[tuple[str, int, int, int]]] = {}
    for database, service in names.items():
        conn = await asyncpg.connect(with_database(server_url, database))
        try:
            rows = await conn.fetch(
                """SELECT i.relname AS tbl, i.indexrelname AS idx,
                          CASE WHEN x.indisprimary THEN 'pk' WHEN x.indisunique THEN 'unique'
                               WHEN EXISTS (SELECT FROM pg_constraint c
                                            WHERE c.conindid = i.indexrelid AND c.contype = 'x')
                               THEN 'exclusion' ELSE 'plain' END AS kind,
                          t.n_tup_ins + t.n_tup_upd + t.n_tup_del AS changed
                   FROM pg_stat_user_indexes i
                   JOIN pg_index x ON x.indexrelid = i.indexrelid
                   JOIN pg_stat_user_tables t ON t.relid = i.relid
                   WHERE i.idx_scan = 0 AND t.n_tup_ins + t.n_tup_upd + t.n_tup_del > 0
                   ORDER BY changed DESC, i.indexrelname"""
            )
            unread[service] = [f"{r['idx']} ({r['kind']}, on {r['tbl']})" for r in rows]
            table_rows = await conn.fetch(
                """SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
                   WHERE n_tup_ins + n_tup_upd + n_tup_del > 0
                   ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC"""
            )
            writes[service] = [
                (r["relname"], r["n_tup_ins"], r["n_tup_upd"], r["n_tup_hot_upd"])
                for r in table_rows
            ]
        finally:
            await conn.close()
    wal = {
        "records": float(wal_row["wal_records"]),
        "full page images": float(wal_row["wal_fpi"]),
        "bytes": float(wal_row["wal_bytes"]),
        "writes": float(io_row["writes"]),
        "fsyncs": float(io_row["fsyncs"]),
    }
    return Counters(
        {names[r["datname"]]: float(r["xact_commit"]) for r in db_rows},
        {names[r["datname"]]: float(r["xact_rollback"]) for r in db_rows},
        wal,
        writes,
        unread,
    )


async def until_notify_is_idle(dsn: str, within: float = 120.0) -> int:
    """Wait until notify has no message pending; the number of look-ups (commits) it took."""
    conn = await asyncpg.connect(dsn)
    looks = 0
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            looks += 1
            pending = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE status = 'pending'"
            )
            if not pending:
                break
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    return looks


FLUSH_WAIT = 11.0
"""An idle backend reports its pending statistics within 10 s (PGSTAT_IDLE_INTERVAL)."""


async def measure_window(
    label: str,
    stack_url: str,
    postmaster: int,
    names: dict[str, str],
    notify_dsn: str,
    work: Callable[[], Awaitable[Latencies]] | None,
    idle_seconds: float,
    idle: Window | None = None,
) -> tuple[Window, Latencies | None]:
    """The window from a reset until `work` is done and notify is idle (or `idle_seconds`).
    The counters are read FLUSH_WAIT later; what `idle`'s rates say that wait added is taken
    off, and so are the benchmark's own look-ups at notify's database."""
    admin = await asyncpg.connect(stack_url)
    try:
        await reset(stack_url, list(names))
        before = await processes(admin, postmaster, names)
        began = time.perf_counter()
        result: Latencies | None = None
        looks = 0
        if work is None:
            await asyncio.sleep(idle_seconds)
        else:
            result = await work()
            looks = await until_notify_is_idle(notify_dsn)
        seconds = time.perf_counter() - began
        after = await processes(admin, postmaster, names)
    finally:
        await admin.close()
    statements = await statements_now(stack_url, names)
    waited = time.perf_counter()
    await asyncio.sleep(FLUSH_WAIT)
    counted = await counters(stack_url, names)
    waited = time.perf_counter() - waited
    counted.commits["notify"] = counted.commits.get("notify", 0) - looks
    if idle is not None:
        rate = idle.counted
        for name in counted.commits:
            counted.commits[name] -= rate.commits.get(name, 0.0) / idle.seconds * waited
            counted.rollbacks[name] -= rate.rollbacks.get(name, 0.0) / idle.seconds * waited
        for name in counted.wal:
            counted.wal[name] -= rate.wal[name] / idle.seconds * waited
    bookings = len(result.ok) if result is not None else 0
    cpu = cpu_by_kind(before, after)
    return Window(label, seconds, bookings, cpu, statements, counted), result


def report(window: Window, top: int) -> None:
    per = window.bookings if window.bookings else window.seconds
    unit = "booking" if window.bookings else "second"
    services = ["booking", "notify", "followup", "crisis"]
    print(f"\n== {window.label}: {window.seconds:.1f} s, {window.bookings} bookings; per {unit}")
    all_cpu = sum(window.cpu.values()) * 1000 / per
    print(f"PostgreSQL CPU (all its processes, /proc): {all_cpu:.2f} ms per {unit}")
    print(
        f"{'database':<10} {'commits':>8} {'rollbk':>7} {'stmts':>7} {'stmt ms':>8} "
        f"{'plan ms':>8} {'CPU ms':>7} {'CPU-stmt':>8}"
    )
    totals = [0.0] * 7
    for service in services:
        mine = [s for s in window.statements if s.database == service]
        calls = sum(s.calls for s in mine) / per
        stmt_ms = sum(s.total_ms for s in mine) / per
        plan_ms = sum(s.plan_ms for s in mine) / per
        cpu_ms = window.cpu.get(service, 0.0) * 1000 / per
        commits = window.counted.commits.get(service, 0) / per
        rollbacks = window.counted.rollbacks.get(service, 0) / per
        row = [commits, rollbacks, calls, stmt_ms, plan_ms, cpu_ms, cpu_ms - stmt_ms]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(
            f"{service:<10} {commits:8.2f} {rollbacks:7.2f} {calls:7.2f} {stmt_ms:8.3f} "
            f"{plan_ms:8.3f} {cpu_ms:7.3f} {cpu_ms - stmt_ms:8.3f}"
        )
    print(
        f"{'all four':<10} {totals[0]:8.2f} {totals[1]:7.2f} {totals[2]:7.2f} {totals[3]:8.3f} "
        f"{totals[4]:8.3f} {totals[5]:7.3f} {totals[6]:8.3f}"
    )
    others = {k: v for k, v in window.cpu.items() if k not in services}
    print(
        "other PostgreSQL processes, CPU ms per "
        + unit
        + ": "
        + ", ".join(
            f"{k} {v * 1000 / per:.3f}" for k, v in sorted(others.items(), key=lambda kv: -kv[1])
        )
    )
    wal = window.counted.wal
    print(
        f"WAL per {unit}: {wal['records'] / per:.1f} records, {wal['bytes'] / per:,.0f} bytes, "
        f"{wal['full page images'] / per:.2f} full-page images, {wal['writes'] / per:.2f} "
        f"writes, {wal['fsyncs'] / per:.2f} fsyncs"
    )
    for service in services:
        mine = sorted(
            (s for s in window.statements if s.database == service), key=lambda s: -s.total_ms
        )
        print(f"-- {service}: top statements by time (planning + execution)")
        print(
            f"   {'µs/' + unit:>10} {'calls/' + unit:>12} {'mean µs':>8} {'rows/call':>9} "
            f"{'WAL B/call':>10}  query"
        )
        for s in mine[:top]:
            mean = s.total_ms / s.calls * 1000 if s.calls else 0.0
            rows = s.rows / s.calls if s.calls else 0.0
            wal_per_call = s.wal_bytes / s.calls if s.calls else 0.0
            print(
                f"   {s.total_ms * 1000 / per:10.1f} {s.calls / per:12.3f} {mean:8.1f} "
                f"{rows:9.2f} {wal_per_call:10.0f}  {s.query[:QUERY_WIDTH]}"
            )
        tables = window.counted.writes.get(service, [])[:6]
        if tables:
            print(
                "   rows written per "
                + unit
                + " (ins/upd/hot): "
                + "; ".join(
                    f"{t} {i / per:.2f}/{u / per:.2f}/{h / per:.2f}" for t, i, u, h in tables
                )
            )
        unread = window.counted.unread.get(service, [])
        if unread and window.bookings:
            print("   indexes not read in the window, on written tables: " + "; ".join(unread))


def dump(window: Window, into: Path | None) -> None:
    """Every statement of `window` into `<into>-<idle|loaded>.tsv`, for reading at leisure."""
    if into is None:
        return
    name = "idle" if window.bookings == 0 else "loaded"
    per = window.bookings or window.seconds
    lines = ["database\tper_unit_us\tcalls_per_unit\tmean_us\trows\twal_bytes\tquery"]
    for s in sorted(window.statements, key=lambda s: (s.database, -s.total_ms)):
        mean = s.total_ms / s.calls * 1000 if s.calls else 0.0
        lines.append(
            f"{s.database}\t{s.total_ms * 1000 / per:.1f}\t{s.calls / per:.3f}\t{mean:.1f}\t"
            f"{s.rows}\t{s.wal_bytes}\t{s.query}"
        )
    Path(f"{into}-{name}.tsv").write_text("\n".join(lines) + "\n")


async def count_statements(postgres_url: str) -> None:
    """Create `pg_stat_statements` (its library is loaded by `PG_SETTINGS`)."""
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await admin.close()


async def run(args: argparse.Namespace) -> None:
    async with running_stack(postgres_settings=PG_SETTINGS) as stack:
        suite = stack.suite
        await count_statements(stack.postgres_url)
        names = {suite.databases[s]: s for s in ("booking", "notify", "followup", "crisis")}
        notify_dsn = suite.database_url("notify")
        load = await BookingLoad.prepare(suite)
        if args.warmup > 0:
            await load.paced(args.rate, args.warmup)
        await until_notify_is_idle(notify_dsn)
        await asyncio.sleep(FLUSH_WAIT)  # the warm-up's statistics are reported before the reset
        print(f"load before: {load_average()}", flush=True)
        idle = None
        if args.idle > 0:
            idle, _ = await measure_window(
                "idle", stack.postgres_url, stack.postgres_pid, names, notify_dsn, None, args.idle
            )
            report(idle, args.top)
            dump(idle, args.dump)
        label = f"flat out, {args.flat} in flight" if args.flat else f"paced {args.rate:.0f}/s"

        def work() -> Awaitable[Latencies]:
            if args.flat:
                return load.flat_out(args.flat, args.seconds)
            return load.paced(args.rate, args.seconds)

        loaded, booked = await measure_window(
            f"{label} for {args.seconds:.0f} s, until notify is idle",
            stack.postgres_url,
            stack.postgres_pid,
            names,
            notify_dsn,
            work,
            0.0,
            idle,
        )
        assert booked is not None
        print(
            f"\nbooked {len(booked.ok)} ({booked.failed} failed) in {booked.seconds:.1f} s; "
            f"load after: {load_average()}",
            flush=True,
        )
        report(loaded, args.top)
        dump(loaded, args.dump)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="the loaded window")
    parser.add_argument("--flat", type=int, default=0, help="in flight, flat out (not paced)")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds first")
    parser.add_argument("--idle", type=float, default=10.0, help="the idle window, s")
    parser.add_argument("--top", type=int, default=8, help="statements shown per database")
    parser.add_argument("--dump", type=Path, help="every statement of each window, as TSV")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
