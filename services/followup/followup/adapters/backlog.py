"""The scheduler's backlog, counted from the `followups` table for the gauges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class SchedulerBacklog:
    scheduled: int  # planned, not yet due
    due_open: int  # fell due, not completed
    overdue: int  # scheduled, but `grace_seconds` past due: the scheduler is behind


async def scheduler_backlog(
    conn: Connection, now: datetime, grace_seconds: float
) -> SchedulerBacklog:
    # One count per status, each answered by its partial index (0001, 0002).
    row = await conn.fetchrow(
        """SELECT
               (SELECT count(*) FROM followups WHERE status = 'scheduled') AS scheduled,
               (SELECT count(*) FROM followups WHERE status = 'due') AS due_open,
               (SELECT count(*) FROM followups
                WHERE status = 'scheduled'
                  AND due_at < $1::timestamptz - make_interval(secs => $2)) AS overdue""",
        now,
        grace_seconds,
    )
    assert row is not None
    return SchedulerBacklog(row["scheduled"], row["due_open"], row["overdue"])
