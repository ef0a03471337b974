"""The schedulers' claim cost with 10k and with 1M future rows in their timer tables.

One claim is the statement a scheduler runs to take the next due row: followup's and crisis's
`DueScheduler` (`claim_statement` over `followups` and `escalation_timers`) and notify's lane
worker (`notification_store.claim` over `notifications`, bulk lane). Each table gets a few due
rows and 10,000 rows due in the future, then 990,000 more future rows, inserted by
`generate_series` in SQL (one database with 10,000, another with 1,000,000), and the same
claim is timed on each, alternately: the cost must not grow with the rows that are not due
(the ratio of the medians stays under 1.5). Each timed claim runs in a transaction that is
rolled back afterwards (not timed), so every claim finds the same due row.

Two figures per claim. PostgreSQL's own time for it (planning and execution, from `EXPLAIN
(ANALYZE, BUFFERS)` of the same statement with the same arguments) and the pages it touched:
the claim's cost, which the target judges. And the round trip as the scheduler sees it, timed
in this process: at a tenth of a millisecond its distribution has two modes (about 0.07 and
0.13 ms here, at either table size: the wake-ups of two processes on two shared cores), so its
median says which mode won more often rather than what the claim costs; it is shown beside.

notify's webhook worker is measured the same way with pending webhook deliveries queued for
50 subscriptions: only a subscription's oldest pending delivery (its head) is ever attempted,
so the rows behind the heads are the ones whose number must not matter, in its claim and in
its next due time (which it reads on every idle look).

python -m bench.claims [--large 1000000] [--claims 1000] [--explained 300] [--only webhook]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from counseling_shared.scheduler import claim_statement
from crisis.adapters.timers import DUE as CRISIS_DUE
from crisis.bootstrap import MIGRATIONS as CRISIS_MIGRATIONS
from devstack.postgres import drop_database, ensure_database, with_database
from followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from notify.adapters import notification_store, webhook_store
from notify.bootstrap import MIGRATIONS as NOTIFY_MIGRATIONS
from notify.domain.codes import Lane

SMALL = 10_000
LARGE = 1_000_000
DUE_ROWS = 20
CLAIMS = 1000
EXPLAINED = 300
RATIO_TARGET = 1.5

Conn = Any  # an asyncpg connection
Claim = Callable[[Conn, datetime], Awaitable[object]]


@dataclass(frozen=True)
class Table:
    """One scheduler's timer table: how to fill it and how its scheduler claims a row."""

    name: str
    migrations: Path
    fill: str
    """INSERT … SELECT … FROM generate_series($1::int, $2::int) g: row g due at $3 + (g - $1)
    seconds, its ids made from g."""
    claim: Claim
    unchecked_references: bool = False
    """Fill with foreign keys unchecked (the referenced rows play no part in a claim)."""


async def _claim_followup(conn: Conn, now: datetime) -> object:
    return await conn.fetchrow(claim_statement("followups", "status = 'scheduled'"), now, [])


async def _claim_escalation(conn: Conn, now: datetime) -> object:
    return await conn.fetchrow(claim_statement("escalation_timers", CRISIS_DUE), now, [])


async def _claim_notification(conn: Conn, now: datetime) -> object:
    return await notification_store.claim(conn, Lane.BULK, now, now + timedelta(seconds=30))


async def _claim_webhook_heads(conn: Conn, now: datetime) -> object:
    return await webhook_store.claim_heads(conn, now, timedelta(seconds=30), 4) or None


async def _webhook_next_due(conn: Conn, now: datetime) -> object:
    return await webhook_store.next_due_at(conn)


# Webhook deliveries queued for 50 subscriptions in turn; the first DUE_ROWS rows are the heads
# of 20 of them, every later row waits behind a head (only heads are ever attempted).
WEBHOOK_FILL = """WITH subscriptions AS (
           INSERT INTO webhook_subscriptions (id, site_id, url, event_types, secret, status,
                                              created_by, created_at)
           SELECT lpad(to_hex(s), 32, '0')::uuid, lpad(to_hex(s % 50), 32, '0')::uuid,
                  'https://receiver.example/hook', '{appointment.booked}', 'whsec_bench',
                  'active', 'bench', now()
           FROM generate_series(1, 50) s
           ON CONFLICT DO NOTHING)
       INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, body, status,
                                       queued_at, next_attempt_at)
       SELECT lpad(to_hex(g), 32, '0')::uuid, lpad(to_hex(g % 50 + 1), 32, '0')::uuid,
              lpad(to_hex(g), 32, '0')::uuid, 'appointment.booked', '{}', 'pending', now(),
              $3::timestamptz + (g - $1) * interval '1 second'
       FROM generate_series($1::int, $2::int) g"""

TABLES = (
    Table(
        "followup: followups (DueScheduler)",
        FOLLOWUP_MIGRATIONS,
        """INSERT INTO followups (id, client_id, site_id, kind, due_at, status, created_at,
                                  updated_at, version)
           SELECT lpad(to_hex(g), 32, '0')::uuid, lpad(to_hex(g), 32, '0')::uuid,
                  lpad(to_hex(g % 50), 32, '0')::uuid, 'checkin',
                  $3::timestamptz + (g - $1) * interval '1 second', 'scheduled', now(), now(), 1
           FROM generate_series($1::int, $2::int) g""",
        _claim_followup,
    ),
    Table(
        "crisis: escalation_timers (DueScheduler)",
        CRISIS_MIGRATIONS,
        """INSERT INTO escalation_timers (id, alert_id, cycle, level, due_at, created_at)
           SELECT lpad(to_hex(g), 32, '0')::uuid, lpad(to_hex(g), 32, '0')::uuid, 0, 0,
                  $3::timestamptz + (g - $1) * interval '1 second', now()
           FROM generate_series($1::int, $2::int) g""",
        _claim_escalation,
        unchecked_references=True,
    ),
    Table(
        "notify: notifications, bulk lane (lane worker)",
        NOTIFY_MIGRATIONS,
        """INSERT INTO notifications (id, recipient_id, recipient_kind, site_id, lane, channel,
                                      template, status, next_attempt_at, cause_event_id,
                                      created_at, version)
           SELECT lpad(to_hex(g), 32, '0')::uuid, lpad(to_hex(g), 32, '0')::uuid, 'client',
                  lpad(to_hex(g % 50), 32, '0')::uuid, 'bulk', 'email', 'followup_due',
                  'pending', $3::timestamptz + (g - $1) * interval '1 second',
                  lpad(to_hex(g), 32, '0')::uuid, now(), 1
           FROM generate_series($1::int, $2::int) g""",
        _claim_notification,
    ),
    Table(
        "notify: webhook_deliveries, heads (webhook worker's claim)",
        NOTIFY_MIGRATIONS,
        WEBHOOK_FILL,
        _claim_webhook_heads,
    ),
    Table(
        "notify: webhook_deliveries, heads (webhook worker's next due time)",
        NOTIFY_MIGRATIONS,
        WEBHOOK_FILL,
        _webhook_next_due,
    ),
)


@dataclass(frozen=True)
class InServer:
    """PostgreSQL's own cost of one claim, from `EXPLAIN (ANALYZE, BUFFERS)`."""

    milliseconds: float  # planning and execution
    pages: int  # shared buffers hit or read, planning and execution


@dataclass(frozen=True)
class ClaimCost:
    table: str
    small: list[float]  # seconds per claim's round trip with SMALL future rows
    large: list[float]  # with `large_rows` future rows
    large_rows: int
    index: str  # the index the claim's plan reads, from EXPLAIN
    fill_seconds: float  # inserting the large table's rows (not timed in the claims)
    server_small: list[InServer]
    server_large: list[InServer]

    @property
    def ratio(self) -> float:
        """The claim's cost in PostgreSQL with `large_rows` over that with SMALL (medians)."""
        return _median_ms(self.server_large) / _median_ms(self.server_small)

    @property
    def round_trip_ratio(self) -> float:
        return statistics.median(self.large) / statistics.median(self.small)

    @property
    def met(self) -> bool:
        return self.ratio < RATIO_TARGET


def _median_ms(costs: list[InServer]) -> float:
    return statistics.median(cost.milliseconds for cost in costs)


def median_pages(costs: list[InServer]) -> int:
    return round(statistics.median(cost.pages for cost in costs))


async def _timed_claim(conn: Conn, claim: Claim) -> float:
    """Seconds for one claim; its transaction is rolled back afterwards (not timed)."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        now = datetime.now(UTC)
        began = time.perf_counter()
        row = await claim(conn, now)
        took = time.perf_counter() - began
    finally:
        await transaction.rollback()
    if row is None:
        raise RuntimeError("the claim found no due row")
    return took


async def _fill(conn: Conn, table: Table, rows: int, base: datetime, offset: int = 0) -> None:
    """`rows` rows due from `base` on, a second apart; ids in order (`offset` keeps them
    unique), so the inserts append to the indexes instead of splitting pages at random."""
    if table.unchecked_references:
        await conn.execute("SET session_replication_role = replica")
    await conn.execute(table.fill, offset + 1, offset + rows, base)
    if table.unchecked_references:
        await conn.execute("SET session_replication_role = DEFAULT")
    await conn.execute("ANALYZE")


async def _explained_claim(conn: Conn, query: str, args: tuple[Any, ...]) -> InServer:
    """PostgreSQL's time and pages for the claim's statement, run (and rolled back) under
    `EXPLAIN (ANALYZE, BUFFERS)` with the arguments the claim sent."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        found = await _explain(conn, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", args)
    finally:
        await transaction.rollback()
    [explained] = json.loads(found) if isinstance(found, str) else found
    if explained["Plan"].get("Actual Rows", 0) < 1:
        raise RuntimeError("the explained claim found no due row")
    pages = sum(
        part.get(f"Shared {kind} Blocks", 0)
        for part in (explained["Plan"], explained.get("Planning", {}))
        for kind in ("Hit", "Read")
    )
    return InServer(explained["Planning Time"] + explained["Execution Time"], pages)


async def _explain(conn: Conn, explain: str, args: tuple[Any, ...]) -> Any:
    """Run an EXPLAIN of a statement with its arguments. PostgreSQL types some of an
    EXPLAIN's parameters as the statement would and leaves others untyped (text to asyncpg):
    those get the argument's text, which PostgreSQL then casts as the statement needs."""
    prepared = await conn.prepare(explain)
    untyped = [parameter.name in ("text", "unknown") for parameter in prepared.get_parameters()]
    sent = [
        _as_text(arg) if as_text and not isinstance(arg, str) else arg
        for arg, as_text in zip(args, untyped, strict=True)
    ]
    return await prepared.fetchval(*sent)


def _as_text(arg: Any) -> str | None:
    """One claim argument as PostgreSQL's text input for its type."""
    if arg is None:
        return None
    if isinstance(arg, datetime):
        return arg.isoformat()
    if isinstance(arg, list | tuple):
        return "{" + ",".join(f'"{item}"' for item in arg) + "}"
    return str(arg)


def _indexes(plan: Any) -> list[str]:
    found = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        found += _indexes(child)
    return found


async def _claim_statement(conn: Conn, claim: Claim) -> tuple[str, tuple[Any, ...]]:
    """The statement and arguments the claim sends, captured through a connection stand-in
    (the claim runs, in a transaction rolled back)."""
    recorder = _Recorder(conn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await claim(recorder, datetime.now(UTC))
    finally:
        await transaction.rollback()
    return recorder.last


async def _plan_index(conn: Conn, query: str, args: tuple[Any, ...]) -> str:
    """The index the claim's statement reads, from the plan PostgreSQL chose."""
    plan = await _explain(conn, f"EXPLAIN (FORMAT JSON) {query}", args)
    if isinstance(plan, str):  # a connection without a json codec
        plan = json.loads(plan)
    return ", ".join(_indexes(plan[0]["Plan"])) or "none (sequential scan)"


class _Recorder:
    """Passes `fetchrow`, `fetch` (notify's claims of several) and `fetchval` (the webhook
    worker's next due time) through to the connection, keeping the statement and its
    arguments."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self.last: tuple[str, tuple[Any, ...]] = ("", ())

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.last = (query, args)
        return await self._conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        self.last = (query, args)
        return await self._conn.fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.last = (query, args)
        return await self._conn.fetchval(query, *args)


async def measure_table(
    server_url: str, table: Table, large: int, claims: int, explained: int = EXPLAINED
) -> ClaimCost:
    """Two databases of the service's schema, one with `SMALL` and one with `large` future
    rows (and the same few due rows); the claims alternate between them, so a change in the
    machine's load reaches both sizes alike: `claims` timed round trips, then `explained`
    claims under EXPLAIN ANALYZE on each."""
    names = [f"bench_claims_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    conns: list[Conn] = []
    try:
        now = datetime.now(UTC)
        fill_seconds = 0.0
        for name, rows in zip(names, (SMALL, large), strict=True):
            await ensure_database(server_url, name)
            conn = await connect(with_database(server_url, name))
            conns.append(conn)
            await apply_migrations(conn, table.migrations)
            await _fill(conn, table, DUE_ROWS, now - timedelta(days=1))
            began = time.perf_counter()
            await _fill(conn, table, rows, now + timedelta(days=1), offset=DUE_ROWS)
            fill_seconds = time.perf_counter() - began
        small, big = conns
        for _ in range(10):  # warm both plan caches, not kept
            await _timed_claim(small, table.claim)
            await _timed_claim(big, table.claim)
        small_times, large_times = [], []
        for _ in range(claims):
            small_times.append(await _timed_claim(small, table.claim))
            large_times.append(await _timed_claim(big, table.claim))
        # Its "now" stays a moment old: the due rows are a day overdue, the others a day ahead.
        query, args = await _claim_statement(big, table.claim)
        server: tuple[list[InServer], list[InServer]] = ([], [])
        for _ in range(explained):
            for conn, costs in zip(conns, server, strict=True):
                costs.append(await _explained_claim(conn, query, args))
        index = await _plan_index(big, query, args)
    finally:
        for conn in conns:
            await conn.close()
        for name in names:
            await drop_database(server_url, name)
    return ClaimCost(table.name, small_times, large_times, large, index, fill_seconds, *server)


async def measure(
    server_url: str,
    large: int = LARGE,
    claims: int = CLAIMS,
    explained: int = EXPLAINED,
    only: str = "",
) -> list[ClaimCost]:
    costs = []
    for table in (t for t in TABLES if only in t.name):
        cost = await measure_table(server_url, table, large, claims, explained)
        print(
            f"claim, {cost.table}: in PostgreSQL {_median_ms(cost.server_small):.3f} ms with "
            f"{SMALL:,} rows, {_median_ms(cost.server_large):.3f} ms with {large:,} "
            f"(ratio {cost.ratio:.2f}; pages {median_pages(cost.server_small)} and "
            f"{median_pages(cost.server_large)}); round trip "
            f"{statistics.median(cost.small) * 1000:.2f} and "
            f"{statistics.median(cost.large) * 1000:.2f} ms (ratio "
            f"{cost.round_trip_ratio:.2f}); {cost.index}; {cost.fill_seconds:.0f} s to insert",
            flush=True,
        )
        costs.append(cost)
    return costs


def main(argv: list[str] | None = None) -> None:
    from bench.servers import servers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=LARGE)
    parser.add_argument("--claims", type=int, default=CLAIMS)
    parser.add_argument("--explained", type=int, default=EXPLAINED)
    parser.add_argument("--only", default="", help="the tables whose name contains this")
    args = parser.parse_args(argv)
    with servers() as found:
        asyncio.run(measure(found.postgres_url, args.large, args.claims, args.explained, args.only))


if __name__ == "__main__":
    main()
