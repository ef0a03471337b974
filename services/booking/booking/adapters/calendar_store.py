"""A counselor's calendar feed: its issued links, and the sessions it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters.projections import appointment_from
from booking.domain.appointment import Appointment

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def record_link(
    conn: Connection,
    *,
    link_id: UUID,
    staff_id: UUID,
    issued_by: str,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO staff_calendar_links (link_id, staff_id, issued_by, issued_at, expires_at)
           VALUES ($1, $2, $3, $4, $5)""",
        link_id,
        staff_id,
        issued_by,
        issued_at,
        expires_at,
    )


async def link_is_live(conn: Connection, link_id: UUID, staff_id: UUID) -> bool:
    """Issued for this staff member and not revoked."""
    found = await conn.fetchval(
        """SELECT true FROM staff_calendar_links
           WHERE link_id = $1 AND staff_id = $2 AND revoked_at IS NULL""",
        link_id,
        staff_id,
    )
    return bool(found)


async def revoke_links(conn: Connection, staff_id: UUID, now: datetime) -> int:
    status: str = await conn.execute(
        """UPDATE staff_calendar_links SET revoked_at = $2
           WHERE staff_id = $1 AND revoked_at IS NULL""",
        staff_id,
        now,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class CalendarSession:
    appointment: Appointment
    reschedules: int
    room_name: str | None


async def sessions(
    conn: Connection,
    counselor_id: UUID,
    *,
    ending_after: datetime,
    starting_before: datetime,
    cancelled_since: datetime,
) -> list[CalendarSession]:
    """The counselor's sessions overlapping the window; cancelled ones only while their
    cancellation is recent. Each with how often it was rescheduled (from its event stream)."""
    rows = await conn.fetch(
        """SELECT a.*, r.name AS room_name,
                  (SELECT count(*) FROM events e
                   WHERE e.stream_id = 'appointment-' || a.id::text
                     AND e.type = 'AppointmentRescheduled') AS reschedules
           FROM appointments a LEFT JOIN rooms r ON r.id = a.room_id
           WHERE a.counselor_id = $1 AND a.end_at > $2 AND a.start_at < $3
             AND (a.status <> 'cancelled' OR a.cancelled_at >= $4)
           ORDER BY a.start_at, a.id""",
        counselor_id,
        ending_after,
        starting_before,
        cancelled_since,
    )
    return [
        CalendarSession(appointment_from(r), int(r["reschedules"]), r["room_name"]) for r in rows
    ]
