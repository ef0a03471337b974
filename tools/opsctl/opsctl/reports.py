"""Read-only reports on other services' tables: overdue follow-ups, contact gaps, open alerts.

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
class ContactGap:
    """A client past the contact gap or in a cool-off (followup's `contact_regularity`)."""

    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None
    last_positive_contact_at: datetime | None
    past_gap_since: datetime | None
    cooloff_until: datetime | None


async def contact_gaps(
    conn: Connection, site_id: UUID | None = None, limit: int = 1000
) -> list[ContactGap]:
    """Longest adrift first; a cool-off shows only while it lasts."""
    rows = await conn.fetch(
        """SELECT id AS client_id, site_id, counselor_id,
                  last_positive_at AS last_positive_contact_at,
                  gap_found_at AS past_gap_since,
                  CASE WHEN cooloff_until > now() THEN cooloff_until END AS cooloff_until
           FROM contact_regularity
           WHERE (gap_found_at IS NOT NULL OR cooloff_until > now())
             AND ($1::uuid IS NULL OR site_id = $1)
           ORDER BY last_positive_at NULLS FIRST, id
           LIMIT $2""",
        site_id,
        limit,
    )
    return [ContactGap(**dict(r)) for r in rows]


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


@dataclass(frozen=True)
class TableSize:
    """One table of a service's schema: PostgreSQL's live-row estimate and its size on disk."""

    table: str
    rows: int
    bytes: int


async def table_sizes(conn: Connection) -> list[TableSize]:
    rows = await conn.fetch(
        """SELECT relname AS table, n_live_tup AS rows, pg_total_relation_size(relid) AS bytes
           FROM pg_stat_user_tables WHERE schemaname = current_schema()
           ORDER BY bytes DESC, relname"""
    )
    return [TableSize(**dict(r)) for r in rows]


@dataclass(frozen=True)
class OutboxDeadLetter:
    """A committed event the relay could never publish (too large, or no stream)."""

    position: int
    event_id: UUID
    subject: str
    reason: str
    detail: str
    created_at: datetime
    dead_at: datetime
    reviewed_at: datetime | None


async def outbox_dead_letters(
    conn: Connection, *, waiting: bool = False, limit: int = 1000
) -> list[OutboxDeadLetter]:
    rows = await conn.fetch(
        """SELECT position, event_id, subject, reason, detail, created_at, dead_at, reviewed_at
           FROM outbox_dead_letters WHERE NOT $1 OR reviewed_at IS NULL
           ORDER BY position LIMIT $2""",
        waiting,
        limit,
    )
    return [OutboxDeadLetter(**dict(r)) for r in rows]
