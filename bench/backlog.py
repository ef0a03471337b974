"""Page latency behind a 20,000-message bulk backlog: pages must not wait behind bulk mail.

The backlog: 20,000 FollowUpDue check-in messages to the clients of one site in notify's bulk
lane, queued in one transaction on notify's database, so the whole backlog appears at once when
it commits and the lane's workers (woken by its NOTIFY) start draining it. The first 200 are
queued by notify's own handler for that event (`handlers.on_followup_due`, what its consumer
runs for each FollowUpDue), called from the benchmark process; the rest are copies of those
made in SQL (new ids, each with its own requested event in notify's store, so deliveries record
as usual): queuing all 20,000 through the handler takes about 100 s on this machine. Then
pages are sent as in the idle measurement, while the backlog drains. From the rows' own
`sent_at` / `failed_at` (no polling in the window): how much of the backlog was undelivered
when the first page was sent and when the last page reached the SMS provider, and how fast the
lane drained meanwhile.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.booking_load import Latencies
from bench.paging import Pager
from bench.stack import Stack
from counseling_shared.clock import SystemClock
from counseling_shared.codes import FollowUpKind
from counseling_shared.db import connect
from counseling_shared.envelope import wrap
from counseling_shared.events import FollowUpDue
from counseling_shared.unit_of_work import UnitOfWork
from devstack.postgres import with_database
from notify.application.handlers import on_followup_due

BACKLOG = 20_000
THROUGH_HANDLER = 200
P99_TARGET = 0.250

_UNDELIVERED = """SELECT count(*) FROM notifications
                  WHERE site_id = $1 AND template = 'followup_due'
                    AND coalesce(sent_at, failed_at, 'infinity') > $2"""

_FAILED = """SELECT count(*) FROM notifications
             WHERE site_id = $1 AND template = 'followup_due' AND failed_at <= $2"""


@dataclass(frozen=True)
class Backlog:
    pages: Latencies
    queued: int  # the bulk messages queued
    build_seconds: float  # queuing them (set-up, not timed)
    at_first_page: int  # undelivered when the first page was sent
    at_last_page: int  # undelivered when the last page reached the SMS provider
    failed: int  # of the backlog's messages finished by then, those that failed
    window: float  # seconds from the first page sent to the last one's arrival

    @property
    def drained_per_second(self) -> float:
        return (self.at_first_page - self.at_last_page) / self.window if self.window else 0.0


_COPIES = """CREATE TEMPORARY TABLE bench_copies ON COMMIT DROP AS
    SELECT gen_random_uuid() AS id, gen_random_uuid() AS cause_event_id, n.id AS source_id
    FROM notifications n, generate_series(1, $2::int) g
    WHERE n.site_id = $1 AND n.template = 'followup_due'"""
_COLUMNS = """SELECT column_name FROM information_schema.columns
               WHERE table_name = 'notifications' AND table_schema = current_schema()
               ORDER BY ordinal_position"""


def _copy_rows(columns: list[str]) -> str:
    """Each copy: its source row with the copy's own id and cause event id."""
    values = [f"c.{c}" if c in ("id", "cause_event_id") else f"n.{c}" for c in columns]
    return f"""INSERT INTO notifications ({", ".join(columns)})
               SELECT {", ".join(values)}
               FROM bench_copies c JOIN notifications n ON n.id = c.source_id"""


_COPY_EVENTS = """INSERT INTO events (id, stream_id, version, type, data, metadata)
    SELECT gen_random_uuid(), 'notification-' || c.id, e.version, e.type,
           e.data || jsonb_build_object('notification_id', c.id,
                                        'cause_event_id', c.cause_event_id),
           e.metadata
    FROM bench_copies c JOIN events e ON e.stream_id = 'notification-' || c.source_id"""


async def queue_backlog(stack: Stack, site_id: uuid.UUID, clients: list[str], count: int) -> int:
    """`count` FollowUpDue messages to `clients` in turn: `THROUGH_HANDLER` queued by notify's
    handler, the rest SQL copies of those."""
    through_handler = min(count, THROUGH_HANDLER)
    now = datetime.now(UTC)
    dsn = with_database(stack.postgres_url, stack.suite.databases["notify"])
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            uow = UnitOfWork(conn, source="notify", clock=SystemClock())
            for i in range(through_handler):
                due = FollowUpDue(
                    followup_id=(followup_id := uuid.uuid4()),
                    client_id=uuid.UUID(clients[i % len(clients)]),
                    site_id=site_id,
                    kind=FollowUpKind.CHECKIN,
                    due_at=now,
                )
                await on_followup_due(uow, wrap(due, source="followup", subject=followup_id), due)
            await uow.flush()
            copies = count // through_handler - 1
            if copies > 0:
                await conn.execute(_COPIES, site_id, copies)
                await conn.execute("ANALYZE bench_copies")  # else a nested loop of scans
                columns = [r["column_name"] for r in await conn.fetch(_COLUMNS)]
                await conn.execute(_copy_rows(columns))
                await conn.execute(_COPY_EVENTS)
        queued: int = await conn.fetchval(_UNDELIVERED, site_id, datetime.now(UTC))
    finally:
        await conn.close()
    return queued


async def measure(stack: Stack, pager: Pager, interval: float, count: int = BACKLOG) -> Backlog:
    site_id = uuid.UUID(pager.center.site_id)
    began = time.perf_counter()
    queued = await queue_backlog(stack, site_id, pager.clients, count)
    build_seconds = time.perf_counter() - began
    pages = await pager.page_each(interval)
    conn: Any = await connect(with_database(stack.postgres_url, stack.suite.databases["notify"]))
    try:
        first, last = (
            datetime.fromtimestamp(t, UTC) for t in (pager.first_sent, pager.last_arrival)
        )
        at_first = int(await conn.fetchval(_UNDELIVERED, site_id, first))
        at_last = int(await conn.fetchval(_UNDELIVERED, site_id, last))
        failed = int(await conn.fetchval(_FAILED, site_id, last))
    finally:
        await conn.close()
    window = pager.last_arrival - pager.first_sent
    return Backlog(pages, queued, build_seconds, at_first, at_last, failed, window)
