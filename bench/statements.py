"""Statements per booking, in each service's database: `python -m bench.statements [N]`.

Every statement is a round trip: a socket write, a wake-up of a PostgreSQL backend and CPU in
both processes, so the count is the first thing to cut. With the whole stack running, the
server logs every statement (`log_statement = all`, the database's name first on each line)
while N bookings are made one after another; then the lines are counted by database and by
statement. One at a time, the services' own once-a-second looks for due work (idle workers,
schedulers) weigh more than under load: read the figures as an upper bound.
"""

import asyncio
import re
import sys
from collections import Counter, defaultdict

import asyncpg

from bench.booking_load import BookingLoad, Latencies
from bench.stack import running_stack

_LINE = re.compile(r"^([^|]*)\|LOG:  (?:statement|execute [^:]*): (.*)")


def count(log_lines: list[str]) -> dict[str, Counter[str]]:
    """Statements by database, each named by its first 80 characters."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for line in log_lines:
        if (match := _LINE.match(line)) is not None:
            found[match.group(1)][match.group(2)[:80]] += 1
    return found


async def measure(bookings: int) -> dict[str, Counter[str]]:
    async with running_stack() as stack:
        load = await BookingLoad.prepare(stack.suite)
        admin = await asyncpg.connect(stack.postgres_url)
        try:
            await asyncio.sleep(2.0)  # the set-up's events are consumed
            log = stack.postgres_log
            start = log.stat().st_size
            await admin.execute("ALTER SYSTEM SET log_line_prefix = '%d|'")
            await admin.execute("ALTER SYSTEM SET log_statement = 'all'")
            await admin.fetchval("SELECT pg_reload_conf()")
            await asyncio.sleep(0.5)
            async with load.client() as http:
                for _ in range(bookings):
                    await load._book(http, Latencies())
            await asyncio.sleep(2.0)  # what the bookings set off: confirmations, reminders
            await admin.execute("ALTER SYSTEM RESET log_statement")
            await admin.execute("ALTER SYSTEM RESET log_line_prefix")
            await admin.fetchval("SELECT pg_reload_conf()")
            with log.open(errors="replace") as text:
                text.seek(start)
                lines = text.read().splitlines()
        finally:
            await admin.close()
    return count(lines)


def main() -> None:
    bookings = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    found = asyncio.run(measure(bookings))
    services = {db: c for db, c in found.items() if db.rsplit("_", 1)[-1] != "postgres"}
    total = 0.0
    for database, statements in sorted(services.items()):
        per = sum(statements.values()) / bookings
        total += per
        print(f"{database.rsplit('_', 1)[-1]}: {per:.1f} statements per booking")
        for text, n in statements.most_common(8):
            print(f"    {n / bookings:5.2f}  {text}")
    print(f"all four: {total:.1f} statements per booking")


if __name__ == "__main__":
    main()
