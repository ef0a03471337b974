"""Which active staff of a site hold a role (notify's `staff_contacts` projection)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def site_staff_with_roles(
    conn: Connection, site_id: UUID, roles: Sequence[str]
) -> list[UUID]:
    rows = await conn.fetch(
        """SELECT staff_id FROM staff_contacts
           WHERE site_id = $1 AND role = ANY($2::text[]) AND deactivated_at IS NULL
           ORDER BY staff_id""",
        site_id,
        list(roles),
    )
    return [r["staff_id"] for r in rows]
