"""notify's cost per message: `python -m bench.notify_cost [--bookings N] [--backlog N]`.

With the whole stack running: N bookings made one after another, then the CPU notify spent
(user + system, from /proc) until every confirmation was sent, per booking; then a backlog of
FollowUpDue check-ins queued at once on the bulk lane (as `bench.backlog` queues it), the time
until it has drained and the CPU notify, booking (its directory answers) and PostgreSQL spent,
per delivered message. CPU per message is steadier on a shared machine than the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

from bench.backlog import queue_backlog
from bench.booking_load import BookingLoad, Latencies
from bench.cpu import CpuMeter
from bench.e2e import _until_notify_is_idle
from bench.paging import Pager
from bench.stack import running_stack
from counseling_shared.db import connect
from counseling_shared.waiting import poll_until


@dataclass(frozen=True)
class NotifyCost:
    confirmation_cpu_ms: float  # notify's CPU per booking (its confirmation and the rest)
    drained_per_second: float
    cpu_ms_per_message: dict[str, float]  # by process, over the backlog's drain


async def measure(bookings: int, backlog: int) -> NotifyCost:
    async with running_stack() as stack:
        suite = stack.suite
        load = await BookingLoad.prepare(suite)
        pager = await Pager.prepare(suite, 1)
        dsn = suite.database_url("notify")
        await _until_notify_is_idle(dsn)
        processes = {name: p.pid for name, p in suite.processes.items() if p.pid is not None}
        meter = CpuMeter(processes, {"postgresql": stack.postgres_pid})

        meter.start()
        async with load.client() as http:
            for _ in range(bookings):
                await load._book(http, Latencies())
        await _until_notify_is_idle(dsn)
        confirmation = meter.stop()["notify"] / bookings * 1000

        site_id = uuid.UUID(pager.center.site_id)
        queued = await queue_backlog(stack, site_id, pager.clients, backlog)
        meter.start()
        began = time.perf_counter()
        conn = await connect(dsn)
        try:

            async def drained() -> bool:
                left = await conn.fetchval(
                    """SELECT count(*) FROM notifications
                       WHERE site_id = $1 AND template = 'followup_due' AND status = 'pending'""",
                    site_id,
                )
                return not left

            await poll_until(drained, 1800.0, every=0.2)
        finally:
            await conn.close()
        seconds = time.perf_counter() - began
        spent = meter.stop()
    return NotifyCost(
        confirmation_cpu_ms=confirmation,
        drained_per_second=queued / seconds,
        cpu_ms_per_message={name: cpu / queued * 1000 for name, cpu in spent.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--backlog", type=int, default=2000, help="a multiple of 200")
    args = parser.parse_args()
    found = asyncio.run(measure(args.bookings, args.backlog))
    print(f"notify CPU per booking: {found.confirmation_cpu_ms:.2f} ms")
    print(f"bulk lane: {found.drained_per_second:.1f} messages/s")
    costs = ", ".join(f"{n} {ms:.2f}" for n, ms in sorted(found.cpu_ms_per_message.items()))
    print(f"CPU ms per bulk message: {costs}")


if __name__ == "__main__":
    main()
