"""Whether a staff member is deactivated, for the auth layer (booking owns the staff aggregate,
so its projection knows at once)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg


async def is_deactivated(db: asyncpg.Pool[Any], staff_id: UUID) -> bool:
    """One primary-key read; an unknown id is not deactivated."""
    found = await db.fetchval(
        "SELECT deactivated_at IS NOT NULL FROM staff WHERE id = $1", staff_id
    )
    return bool(found)
