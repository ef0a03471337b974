"""The `deactivated_staff` projection: who booking deactivated, as followup recorded it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from followup.domain.staff import StaffDeactivationRecorded

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection


async def deactivation_version(conn: Connection, staff_id: UUID) -> int:
    """The version of the member's stream as projected (0: no deactivation recorded)."""
    version: int | None = await conn.fetchval(
        "SELECT version FROM deactivated_staff WHERE staff_id = $1", staff_id
    )
    return version or 0


async def save_deactivation(
    conn: Connection, staff_id: UUID, recorded: StaffDeactivationRecorded, version: int
) -> None:
    """Write-only (a rebuild batches it): an upsert keyed by the member."""
    await conn.execute(
        """INSERT INTO deactivated_staff (staff_id, site_id, deactivated_at, version)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (staff_id) DO UPDATE SET site_id = EXCLUDED.site_id,
               deactivated_at = EXCLUDED.deactivated_at, version = EXCLUDED.version""",
        staff_id,
        recorded.site_id,
        recorded.deactivated_at,
        version,
    )


async def is_deactivated(db: asyncpg.Pool[Any], staff_id: UUID) -> bool:
    """For the auth layer: booking deactivated this member (one primary-key read)."""
    found = await db.fetchval("SELECT true FROM deactivated_staff WHERE staff_id = $1", staff_id)
    return bool(found)
