"""Projection rows of appointment series and the occurrences they booked."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from booking.domain.scheduling.series import Series, SkippedOccurrence
from counseling_shared.codes import Modality

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def skipped_json(skipped: tuple[SkippedOccurrence, ...]) -> list[dict[str, str]]:
    return [
        {
            "start": s.start.isoformat(),
            "closed_on": s.closed_on.isoformat(),
            "closure_kind": s.closure_kind,
            "reason": s.reason,
        }
        for s in skipped
    ]


def skipped_from(value: Any) -> tuple[SkippedOccurrence, ...]:
    """The `skipped_occurrences` column (jsonb, or its text) as the domain's values."""
    listed = json.loads(value) if isinstance(value, str) else value
    return tuple(
        SkippedOccurrence(
            datetime.fromisoformat(s["start"]),
            date.fromisoformat(s["closed_on"]),
            s["closure_kind"],
            s["reason"],
        )
        for s in listed
    )


async def is_series_occurrence(conn: Connection, appointment_id: UUID) -> bool:
    """Booked by a series (the client's page does not let them move it alone)."""
    found = await conn.fetchval(
        "SELECT 1 FROM series_appointments WHERE appointment_id = $1", appointment_id
    )
    return found is not None


async def load_series(conn: Connection, series_id: UUID) -> Series | None:
    row = await conn.fetchrow("SELECT * FROM appointment_series WHERE id = $1", series_id)
    if row is None:
        return None
    ids = await conn.fetch(
        "SELECT appointment_id FROM series_appointments WHERE series_id = $1 ORDER BY occurrence",
        series_id,
    )
    return Series(
        id=row["id"],
        site_id=row["site_id"],
        counselor_id=row["counselor_id"],
        client_id=row["client_id"],
        room_id=row["room_id"],
        modality=Modality(row["modality"]),
        rrule=row["rrule"],
        timezone=row["timezone"],
        duration_minutes=row["duration_minutes"],
        booked_at=row["booked_at"],
        appointment_ids=tuple(r["appointment_id"] for r in ids),
        version=row["version"],
        cancelled_from=row["cancelled_from"],
        skipped=skipped_from(row["skipped_occurrences"]),
    )


async def save_series(conn: Connection, series: Series) -> None:
    await conn.execute(
        """INSERT INTO appointment_series (id, site_id, counselor_id, client_id, room_id,
                                           modality, rrule, timezone, duration_minutes,
                                           booked_at, cancelled_from, version,
                                           skipped_occurrences)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET
               cancelled_from = EXCLUDED.cancelled_from, version = EXCLUDED.version""",
        series.id,
        series.site_id,
        series.counselor_id,
        series.client_id,
        series.room_id,
        series.modality.value,
        series.rrule,
        series.timezone,
        series.duration_minutes,
        series.booked_at,
        series.cancelled_from,
        series.version,
        skipped_json(series.skipped),
    )
    await conn.executemany(
        """INSERT INTO series_appointments (appointment_id, series_id, occurrence)
           VALUES ($1, $2, $3) ON CONFLICT (appointment_id) DO NOTHING""",
        [(a, series.id, n) for n, a in enumerate(series.appointment_ids, 1)],
    )
