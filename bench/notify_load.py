"""notify under a burst of bookings: `python -m bench.notify_load [--bookings N] [--in-flight K]`.

With the whole stack running, N bookings are made K at a time (so booking's events reach
notify in bursts, as under load, not one by one as in `bench.statements`), with every
statement logged; once every confirmation is sent: the statements notify's database ran per
confirmation (by statement), and the CPU notify and PostgreSQL spent per confirmation. The
statement log costs PostgreSQL CPU of its own: compare its figure only between runs of this.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter

import asyncpg

from bench.booking_load import BookingLoad, Latencies
from bench.cpu import CpuMeter
from bench.e2e import _until_notify_is_idle
from bench.stack import running_stack
from bench.statements import count


async def measure(bookings: int, in_flight: int) -> tuple[Counter[str], dict[str, float], int]:
    """notify's statements and the CPU seconds by process over the burst, and the number of
    confirmations sent."""
    async with running_stack() as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        dsn = suite.database_url("notify")
        await _until_notify_is_idle(dsn)
        await asyncio.sleep(2.0)  # the set-up's events are consumed
        processes = {name: p.pid for name, p in suite.processes.items() if p.pid is not None}
        meter = CpuMeter(processes, {"postgresql": stack.postgres_pid})
        admin = await asyncpg.connect(stack.postgres_url)
        try:
            before = await _confirmations(dsn)
            start = stack.postgres_log.stat().st_size
            await admin.execute("ALTER SYSTEM SET log_line_prefix = '%d|'")
            await admin.execute("ALTER SYSTEM SET log_statement = 'all'")
            await admin.fetchval("SELECT pg_reload_conf()")
            await asyncio.sleep(0.5)
            meter.start()
            async with load.client() as http:
                left = iter(range(bookings))

                async def booker() -> None:
                    for _ in left:
                        await load._book(http, Latencies())

                await asyncio.gather(*(booker() for _ in range(in_flight)))
            await _until_notify_is_idle(dsn)
            cpu = meter.stop()
            await admin.execute("ALTER SYSTEM RESET log_statement")
            await admin.execute("ALTER SYSTEM RESET log_line_prefix")
            await admin.fetchval("SELECT pg_reload_conf()")
            sent = await _confirmations(dsn) - before
            with stack.postgres_log.open(errors="replace") as text:
                text.seek(start)
                lines = text.read().splitlines()
        finally:
            await admin.close()
    found = count(lines)
    notify = next((c for db, c in found.items() if db.rsplit("_", 1)[-1] == "notify"), Counter())
    return notify, cpu, sent


async def _confirmations(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        sent: int = await conn.fetchval(
            "SELECT count(*) FROM notifications"
            " WHERE template = 'appointment_booked' AND status = 'sent'"
        )
    finally:
        await conn.close()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()
    statements, cpu, sent = asyncio.run(measure(args.bookings, args.in_flight))
    per = max(sent, 1)
    print(f"confirmations sent: {sent} of {args.bookings} bookings ({args.in_flight} in flight)")
    print(f"notify database: {sum(statements.values()) / per:.1f} statements per confirmation")
    for text, n in statements.most_common(12):
        print(f"    {n / per:5.2f}  {text}")
    costs = ", ".join(f"{name} {seconds / per * 1000:.2f}" for name, seconds in sorted(cpu.items()))
    print(f"CPU ms per confirmation: {costs}")


if __name__ == "__main__":
    main()
