"""Projection rows of freed slots waiting for the waitlist's offer window
(`waitlist_deferred_slots`, a durable timer table: `due_at` is when the window opens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from booking.domain.scheduling.deferred import DeferredSlot, DeferredStatus
from booking.domain.scheduling.waitlist import FreedSlot
from counseling_shared.codes import Modality
from counseling_shared.scheduler import notify_timer_added

if TYPE_CHECKING:
    from counseling_shared.db import Connection

DEFERRED_TIMER_CHANNEL = "booking_deferred_offers"


def deferred_from(row: asyncpg.Record) -> DeferredSlot:
    return DeferredSlot(
        id=row["id"],
        slot=FreedSlot(
            row["site_id"],
            row["counselor_id"],
            row["room_id"],
            Modality(row["modality"]),
            row["start_at"],
            row["end_at"],
            row["group_session_id"],
        ),
        deferred_at=row["deferred_at"],
        offer_at=row["due_at"],
        status=DeferredStatus(row["status"]),
        version=row["version"],
        released_at=row["released_at"],
    )


async def save_deferred(conn: Connection, deferred: DeferredSlot) -> None:
    """Upsert the row; a new one wakes the timers (they sleep until its `due_at`)."""
    slot = deferred.slot
    await conn.execute(
        """INSERT INTO waitlist_deferred_slots (id, site_id, counselor_id, room_id, modality,
                                                start_at, end_at, deferred_at, due_at, status,
                                                released_at, version, group_session_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET
               status = EXCLUDED.status, released_at = EXCLUDED.released_at,
               version = EXCLUDED.version""",
        deferred.id,
        slot.site_id,
        slot.counselor_id,
        slot.room_id,
        slot.modality.value,
        slot.start,
        slot.end,
        deferred.deferred_at,
        deferred.offer_at,
        deferred.status.value,
        deferred.released_at,
        deferred.version,
        slot.group_session_id,
    )
    if deferred.version == 1:
        await notify_timer_added(conn, DEFERRED_TIMER_CHANNEL, deferred.offer_at)
