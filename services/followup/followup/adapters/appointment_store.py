"""asyncpg storage of the `appointments` projection (migrations/0007).

Mixed into `PostgresFollowupStore`, so the write path keeps one store per transaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from followup.domain.appointments import Appointment, AppointmentStatus

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_UPSERT = """INSERT INTO appointments (appointment_id, client_id, site_id, counselor_id, start,
                 start_offset, moved_by, status, version, manage_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (appointment_id) DO UPDATE SET client_id = $2, site_id = $3,
                 counselor_id = $4, start = $5, start_offset = $6, moved_by = $7, status = $8,
                 version = $9, manage_url = $10"""


class PostgresAppointmentStore:
    conn: Connection

    async def appointment(self, appointment_id: UUID) -> Appointment | None:
        """Read under the client's lock (every writer of an appointment holds it)."""
        row = await self.conn.fetchrow(
            "SELECT * FROM appointments WHERE appointment_id = $1", appointment_id
        )
        return appointment_from_row(row) if row else None

    async def booked_appointments(self, client_id: UUID, after: datetime) -> list[Appointment]:
        rows = await self.conn.fetch(
            """SELECT * FROM appointments
               WHERE client_id = $1 AND status = 'booked' AND start > $2
               ORDER BY start, appointment_id""",
            client_id,
            after,
        )
        return [appointment_from_row(r) for r in rows]

    async def save_appointment(self, state: Appointment) -> None:
        """Write-only (a batch and a rebuild record it): an upsert keyed by the appointment."""
        await self.conn.execute(
            _UPSERT,
            state.appointment_id,
            state.client_id,
            state.site_id,
            state.counselor_id,
            state.start,
            _offset_seconds(state.start),
            state.moved_by,
            state.status.value,
            state.version,
            state.manage_url,
        )


def _offset_seconds(start: datetime) -> int:
    offset = start.utcoffset()
    assert offset is not None, "booking's starts carry their offset"
    return int(offset.total_seconds())


def appointment_from_row(row: asyncpg.Record) -> Appointment:
    # The start with the offset booking wrote: a reminder's id names the start as written
    # (`reminders.reminder_id`), so a resume finds the reminders its booking planned.
    written = timezone(timedelta(seconds=row["start_offset"]))
    return Appointment(
        row["appointment_id"],
        row["client_id"],
        row["site_id"],
        row["counselor_id"],
        row["start"].astimezone(written),
        AppointmentStatus(row["status"]),
        row["version"],
        row["moved_by"],
        row["manage_url"],
    )
