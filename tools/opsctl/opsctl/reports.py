"""Read-only reports on other services' tables: overdue follow-ups, open alerts.

Plain SQL against the tables of followup's and crisis's migrations; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class OverdueFollowUp:
    """A follow-up still `scheduled` after its `due_at`: followup's timer has not fired it."""

    id: UUID
    site_id: UUID
    client_id: UUID
    kind: str
    due_at: datetime
    overdue_by: timedelta


async def overdue_followups(
    conn: Connection, site_id: UUID | None = None, limit: int = 1000
) -> list[OverdueFollowUp]:
    rows = await conn.fetch(
        """SELECT id, site_id, client_id, kind, due_at, now() - due_at AS overdue_by
           FROM followups
           WHERE status = 'scheduled' AND due_at < now()
             AND ($1::uuid IS NULL OR site_id = $1)
           ORDER BY due_at, id
           LIMIT $2""",
        site_id,
        limit,
    )
    return [OverdueFollowUp(**dict(r)) for r in rows]


@dataclass(frozen=True)
class OpenAlert:
    """An alert nobody has acknowledged yet, with how far its escalation went."""

    id: UUID
    site_id: UUID
    client_id: UUID
    level: str
    current_level: int
    cycle: int
    exhausted: bool
    opened_at: datetime
    open_for: timedelta
    escalation_due_at: datetime | None
    pages: int


async def open_alerts(
    conn: Connection, site_id: UUID | None = None, limit: int = 1000
) -> list[OpenAlert]:
    rows = await conn.fetch(
        """SELECT a.id, a.site_id, a.client_id, a.level, a.current_level, a.cycle, a.exhausted,
                  a.opened_at, now() - a.opened_at AS open_for, a.escalation_due_at,
                  (SELECT count(*) FROM alert_pages p WHERE p.alert_id = a.id) AS pages
           FROM alerts a
           WHERE a.status = 'open' AND ($1::uuid IS NULL OR a.site_id = $1)
           ORDER BY a.opened_at, a.id
           LIMIT $2""",
        site_id,
        limit,
    )
    return [OpenAlert(**dict(r)) for r in rows]
