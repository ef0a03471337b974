"""Which site each client belongs to (from booking's ClientRegistered), to check risk flags."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def record_client(conn: Connection, client_id: UUID, site_id: UUID, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO clients (client_id, site_id, registered_at) VALUES ($1, $2, $3)
           ON CONFLICT (client_id) DO NOTHING""",
        client_id,
        site_id,
        at,
    )


async def site_of(conn: Connection, client_id: UUID) -> UUID | None:
    site_id: UUID | None = await conn.fetchval(
        "SELECT site_id FROM clients WHERE client_id = $1", client_id
    )
    return site_id
