"""Projection rows of recurring group sessions (`group_session_series`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters.series_store import skipped_from, skipped_json
from booking.domain.group_series import GroupSeries
from counseling_shared.codes import Modality

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def load_group_series(
    conn: Connection, group_series_id: UUID, *, locked: bool = False
) -> GroupSeries | None:
    """`locked`: the row is held until the transaction ends, so two commands writing the
    series' stream (two clients seated at once) queue instead of racing for its version."""
    lock = " FOR UPDATE" if locked else ""
    row = await conn.fetchrow(
        f"SELECT * FROM group_session_series WHERE id = $1{lock}", group_series_id
    )
    if row is None:
        return None
    return GroupSeries(
        id=row["id"],
        site_id=row["site_id"],
        counselor_id=row["counselor_id"],
        room_id=row["room_id"],
        modality=Modality(row["modality"]),
        capacity=row["capacity"],
        rrule=row["rrule"],
        timezone=row["timezone"],
        duration_minutes=row["duration_minutes"],
        scheduled_at=row["scheduled_at"],
        group_session_ids=tuple(row["group_session_ids"]),
        version=row["version"],
        cancelled_from=row["cancelled_from"],
        skipped=skipped_from(row["skipped_occurrences"]),
    )


async def save_group_series(conn: Connection, series: GroupSeries) -> None:
    await conn.execute(
        """INSERT INTO group_session_series (id, site_id, counselor_id, room_id, modality,
                                             capacity, rrule, timezone, duration_minutes,
                                             scheduled_at, group_session_ids, cancelled_from,
                                             version, skipped_occurrences)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (id) DO UPDATE SET
               cancelled_from = EXCLUDED.cancelled_from, version = EXCLUDED.version""",
        series.id,
        series.site_id,
        series.counselor_id,
        series.room_id,
        series.modality.value,
        series.capacity,
        series.rrule,
        series.timezone,
        series.duration_minutes,
        series.scheduled_at,
        list(series.group_session_ids),
        series.cancelled_from,
        series.version,
        skipped_json(series.skipped),
    )
