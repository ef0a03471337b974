"""Staff members' names, as booking announced them (notify's `staff_contacts`), for messages
that tell one colleague about another."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def staff_names(conn: Connection, staff_ids: Collection[UUID]) -> dict[UUID, str]:
    """The names of those among `staff_ids` notify knows (others left out)."""
    rows = await conn.fetch(
        "SELECT staff_id, name FROM staff_contacts WHERE staff_id = ANY($1::uuid[])",
        list(staff_ids),
    )
    return {r["staff_id"]: r["name"] for r in rows}
