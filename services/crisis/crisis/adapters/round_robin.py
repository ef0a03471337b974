"""Where each site's round-robin levels stand (`round_robin_turns`), one writer at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from crisis.domain.round_robin import Turn
from crisis.domain.timeline import AlertEvent, RoundRobinTurn

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def lock_site(conn: Connection, site_id: UUID) -> None:
    """Until commit, no other transaction reads or gives the site's turns: two alerts opened
    at once take turns one after the other, so they page two different people."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"round-robin:{site_id}"
    )


async def turns_of(conn: Connection, site_id: UUID) -> dict[int, Turn]:
    rows = await conn.fetch(
        """SELECT level, turns, last_staff_id, early_staff_ids FROM round_robin_turns
           WHERE site_id = $1""",
        site_id,
    )
    return {
        r["level"]: Turn(r["turns"], r["last_staff_id"], tuple(r["early_staff_ids"])) for r in rows
    }


async def record_turns(
    conn: Connection, site_id: UUID, events: Sequence[AlertEvent], at: datetime
) -> None:
    """Keep where the turns that `events` gave leave each level's rotation (the caller holds
    `lock_site`)."""
    for event in events:
        if isinstance(event, RoundRobinTurn):
            await conn.execute(
                """INSERT INTO round_robin_turns
                       (site_id, level, turns, last_staff_id, early_staff_ids, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (site_id, level) DO UPDATE SET turns = EXCLUDED.turns,
                       last_staff_id = EXCLUDED.last_staff_id,
                       early_staff_ids = EXCLUDED.early_staff_ids,
                       updated_at = EXCLUDED.updated_at""",
                site_id,
                event.level,
                event.turn,
                event.rotation_after or event.staff_id,
                list(event.early),
                at,
            )
