"""Read-side lookups for the FHIR view: appointments by start, and the staff who hold sessions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters.projections import appointment_from
from booking.adapters.projections import staff_from as staff_member_from
from booking.adapters.queries import Window
from booking.domain.appointment import Appointment
from booking.domain.staff import CLINICAL_ROLES, StaffMember

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class StartRange:
    """Appointments whose start is in `[start_from, start_before)` (either end open)."""

    start_from: datetime | None = None
    start_before: datetime | None = None


async def appointments_by_start(
    conn: Connection,
    *,
    client_ids: Collection[UUID] | None,
    counselor_ids: Collection[UUID] | None,
    starts: StartRange,
    visible_sites: Collection[UUID] | None,
    window: Window,
    exclude_cancelled: bool = False,
) -> list[Appointment]:
    """Ordered by (start, id), one keyset page after `window.after`."""
    rows = await conn.fetch(
        """SELECT * FROM appointments
           WHERE ($1::uuid[] IS NULL OR client_id = ANY($1))
             AND ($2::uuid[] IS NULL OR counselor_id = ANY($2))
             AND ($3::timestamptz IS NULL OR start_at >= $3)
             AND ($4::timestamptz IS NULL OR start_at < $4)
             AND ($5::uuid[] IS NULL OR site_id = ANY($5))
             AND (NOT $6 OR status <> 'cancelled')
             AND ($7::timestamptz IS NULL OR (start_at, id) > ($7, $8::uuid))
           ORDER BY start_at, id LIMIT $9""",
        list(client_ids) if client_ids is not None else None,
        list(counselor_ids) if counselor_ids is not None else None,
        starts.start_from,
        starts.start_before,
        list(visible_sites) if visible_sites is not None else None,
        exclude_cancelled,
        window.after[0] if window.after else None,
        window.after[1] if window.after else None,
        window.size,
    )
    return [appointment_from(r) for r in rows]


async def session_holders(
    conn: Connection,
    *,
    staff_ids: Collection[UUID] | None,
    visible_sites: Collection[UUID] | None,
    window: Window,
) -> list[StaffMember]:
    """Staff who hold sessions (counselors, supervisors, site leads), by (registered_at, id)."""
    rows = await conn.fetch(
        """SELECT * FROM staff
           WHERE role = ANY($1::text[])
             AND ($2::uuid[] IS NULL OR id = ANY($2))
             AND ($3::uuid[] IS NULL OR site_id = ANY($3))
             AND ($4::timestamptz IS NULL OR (registered_at, id) > ($4, $5::uuid))
           ORDER BY registered_at, id LIMIT $6""",
        sorted(r.value for r in CLINICAL_ROLES),
        list(staff_ids) if staff_ids is not None else None,
        list(visible_sites) if visible_sites is not None else None,
        window.after[0] if window.after else None,
        window.after[1] if window.after else None,
        window.size,
    )
    return [staff_member_from(r) for r in rows]
