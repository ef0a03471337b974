"""Sites' time zones (from booking's SiteRegistered): a schedule's zone when it names none."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def record_site(conn: Connection, site_id: UUID, timezone: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO sites (site_id, timezone, registered_at) VALUES ($1, $2, $3)
           ON CONFLICT (site_id) DO UPDATE SET timezone = EXCLUDED.timezone""",
        site_id,
        timezone,
        at,
    )


async def timezone_of(conn: Connection, site_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT timezone FROM sites WHERE site_id = $1", site_id
    )
    return found
