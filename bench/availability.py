"""`GET /availability`'s work under load: a 7-day window over 20 counselors with 500 booked
sessions (and a few live holds), on real PostgreSQL; p50/p99 against the 50 ms budget.

Measured: `booking.application.scheduling.availability` (its three queries and the slot
computation) plus the JSON encoding of the answer, as the route does them, on one pooled
connection. The result goes into its own section of docs/performance.md.

python -m bench.availability [--calls 300] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from booking.application.scheduling import availability
from booking.bootstrap import MIGRATIONS
from booking.entrypoints.http.scheduling_schemas import FreeSlotOut
from counseling_shared.codes import Modality
from counseling_shared.db import connect
from counseling_shared.migrations import apply_migrations
from devstack.postgres import drop_database, ensure_database, with_database

COUNSELORS = 20
SESSIONS = 500
BUDGET_MS = 50.0
REPORT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
BEGIN, END = "<!-- availability -->", "<!-- /availability -->"
MONDAY = datetime(2031, 3, 3, tzinfo=UTC)  # the window's first day


@dataclass(frozen=True)
class Figures:
    load_average: float  # 1-minute load average when the run ended: other work on the machine
    calls: int
    slots: int
    p50_ms: float
    p99_ms: float
    in_person_p99_ms: float


async def _seed(conn: Any) -> uuid.UUID:
    """One site (Europe/Paris), 20 counselors working Mon-Fri 09:00-17:00, 3 rooms, 500 booked
    sessions in the window (5 a day each), 20 live holds."""
    now = MONDAY - timedelta(days=1)
    site = uuid.uuid4()
    await conn.execute(
        """INSERT INTO sites (id, name, timezone, locale, late_cancellation_window,
                              registered_at, version) VALUES ($1, 'Bench', 'Europe/Paris',
                              'en', 'PT24H', $2, 1)""",
        site,
        now,
    )
    weekly = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 6)]
    counselors = [uuid.uuid4() for _ in range(COUNSELORS)]
    rooms = [uuid.uuid4() for _ in range(3)]
    await conn.executemany(
        """INSERT INTO staff (id, site_id, name, role, email, locale, registered_at, version)
           VALUES ($1, $2, 'Counselor', 'counselor', 'c@bench.example', 'en', $3, 1)""",
        [(c, site, now) for c in counselors],
    )
    await conn.executemany(
        """INSERT INTO working_hours (staff_id, site_id, weekly, exceptions, set_at, version)
           VALUES ($1, $2, $3, '[]'::jsonb, $4, 1)""",
        [(c, site, weekly, now) for c in counselors],
    )
    await conn.executemany(
        "INSERT INTO rooms (id, site_id, name, registered_at, version) VALUES ($1,$2,'R',$3,1)",
        [(r, site, now) for r in rooms],
    )
    appointments, claims = [], []
    hours = (9, 10, 11, 13, 14)  # local (UTC+1 in March)
    for index in range(SESSIONS):
        counselor = counselors[index % COUNSELORS]
        day = (index // COUNSELORS) // len(hours)
        hour = hours[(index // COUNSELORS) % len(hours)]
        start = MONDAY + timedelta(days=day, hours=hour - 1)
        client, appointment = uuid.uuid4(), uuid.uuid4()
        appointments.append((appointment, site, client, counselor, start, now))
        claims.append((appointment, site, counselor, client, start))
    await conn.executemany(
        """INSERT INTO clients (id, site_id, name, locale, timezone, preferred_channel,
                                registered_at, episode_number, episode_status,
                                episode_opened_at, version)
           VALUES ($1, $2, 'Client', 'en', 'Europe/Paris', 'email', $3, 1, 'open', $3, 1)""",
        [(a[2], site, now) for a in appointments],
    )
    await conn.executemany(
        """INSERT INTO appointments (id, site_id, client_id, counselor_id, modality, start_at,
                                     end_at, status, booked_at, version)
           VALUES ($1, $2, $3, $4, 'online', $5, $5::timestamptz + interval '50 minutes',
                   'booked', $6, 1)""",
        appointments,
    )
    await conn.executemany(
        """INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, client_id,
                                    start_at, end_at)
           VALUES ($1, 'appointment', $2, $3, $4, $5, $5::timestamptz + interval '50 minutes')""",
        claims,
    )
    await conn.executemany(
        """INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, room_id,
                                    start_at, end_at)
           VALUES ($1, 'hold', $2, $3, $4, $5, $5::timestamptz + interval '50 minutes')""",
        [
            (
                uuid.uuid4(),
                site,
                c,
                rooms[i] if i < 3 else None,
                MONDAY + timedelta(days=1, hours=15),
            )
            for i, c in enumerate(counselors)
        ],
    )
    await conn.execute("ANALYZE")
    return site


async def _timed(
    conn: Any, site: uuid.UUID, modality: Modality, calls: int
) -> tuple[list[float], int]:
    took: list[float] = []
    slots = 0
    for _ in range(calls):
        began = time.perf_counter()
        found = await availability(
            conn,
            site,
            None,
            MONDAY,
            MONDAY + timedelta(days=7),
            timedelta(minutes=50),
            modality,
            MONDAY - timedelta(days=1),
        )
        json.dumps([FreeSlotOut.of(s).model_dump(mode="json") for s in found[:200]])
        took.append((time.perf_counter() - began) * 1000)
        slots = len(found)
    return took, slots


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def measure(server_url: str, calls: int) -> Figures:
    name = f"bench_availability_{uuid.uuid4().hex[:8]}"
    await ensure_database(server_url, name)
    dsn = with_database(server_url, name)
    try:
        conn = await connect(dsn)
        try:
            await apply_migrations(conn, MIGRATIONS)
            site = await _seed(conn)
            await _timed(conn, site, Modality.ONLINE, 20)  # warm-up
            online, slots = await _timed(conn, site, Modality.ONLINE, calls)
            in_person, _ = await _timed(conn, site, Modality.IN_PERSON, calls)
        finally:
            await conn.close()
    finally:
        await drop_database(server_url, name)
    return Figures(
        os.getloadavg()[0], calls, slots, statistics.median(online), _p99(online), _p99(in_person)
    )


def section(figures: Figures) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "within" if max(figures.p99_ms, figures.in_person_p99_ms) <= BUDGET_MS else "OVER"
    return f"""{BEGIN}
## Availability (`GET /availability`)

Last run {when}, `python -m bench.availability` (also run by `make bench`): one site,
{COUNSELORS} counselors working Monday to Friday 09:00-17:00, {SESSIONS} booked sessions and
{COUNSELORS} live holds in a 7-day window, 50-minute slots, {figures.calls} calls each after a
warm-up, on one connection to the embedded PostgreSQL, with a 1-minute load average of
{figures.load_average:.1f} on {os.cpu_count()} CPUs when the run ended (other work shares
the machine; a quiet one gives lower figures). A call is the route's work: loading the
site, its rules, the counselors' hours and the window's claims, computing the free slots
({figures.slots} online), and encoding the first page as JSON.

| query | p50 | p99 | budget |
|---|---|---|---|
| online, all counselors, 7 days | {figures.p50_ms:.1f} ms | {figures.p99_ms:.1f} ms \
| {BUDGET_MS:.0f} ms ({verdict}) |
| in person (a free room each), all counselors, 7 days | | \
{figures.in_person_p99_ms:.1f} ms | {BUDGET_MS:.0f} ms |
{END}"""


def write_section(path: Path, text: str) -> None:
    """Replace the availability section of the report, or append it."""
    current = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(updated)


def run(server_url: str, *, calls: int = 300, write: bool = True) -> Figures:
    figures = asyncio.run(measure(server_url, calls))
    print(
        f"availability: p50 {figures.p50_ms:.1f} ms, p99 {figures.p99_ms:.1f} ms online, "
        f"p99 {figures.in_person_p99_ms:.1f} ms in person ({figures.slots} slots)"
    )
    if write:
        write_section(REPORT, section(figures))
    return figures


def main(argv: list[str] | None = None) -> None:
    from bench.servers import servers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    with servers() as found:
        run(found.postgres_url, calls=args.calls, write=not args.no_write)


if __name__ == "__main__":
    main()
