"""The projection row of a site's closures, and the booked sessions they fall on."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from booking.domain.scheduling.closures import (
    Closure,
    ClosureKind,
    SiteClosures,
    closed_day,
    span_bounds,
)

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def closures_json(closures: tuple[Closure, ...]) -> list[dict[str, Any]]:
    return [
        {
            "from": c.first.isoformat(),
            "to": c.last.isoformat(),
            "kind": c.kind.value,
            "label": c.label,
        }
        for c in closures
    ]


def closures_from(value: Any) -> tuple[Closure, ...]:
    """The closures of a `closures` column (jsonb, or its text; None: the site has none)."""
    if value is None:
        return ()
    listed = json.loads(value) if isinstance(value, str) else value
    return tuple(
        Closure(
            date.fromisoformat(c["from"]),
            date.fromisoformat(c["to"]),
            ClosureKind(c["kind"]),
            c.get("label"),
        )
        for c in listed
    )


async def load_closures(conn: Connection, site_id: UUID) -> SiteClosures | None:
    row = await conn.fetchrow("SELECT * FROM site_closures WHERE site_id = $1", site_id)
    if row is None:
        return None
    return SiteClosures(
        row["site_id"], closures_from(row["closures"]), row["set_at"], row["version"]
    )


async def closures_of_site(conn: Connection, site_id: UUID) -> tuple[Closure, ...]:
    found = await load_closures(conn, site_id)
    return found.closures if found else ()


async def save_closures(conn: Connection, state: SiteClosures) -> None:
    await conn.execute(
        """INSERT INTO site_closures (site_id, closures, set_at, version)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (site_id) DO UPDATE SET
               closures = EXCLUDED.closures, set_at = EXCLUDED.set_at,
               version = EXCLUDED.version""",
        state.site_id,
        closures_json(state.closures),
        state.set_at,
        state.version,
    )


async def booked_on_closed_days(
    conn: Connection, site_id: UUID, zone: ZoneInfo, closures: tuple[Closure, ...]
) -> list[UUID]:
    """Booked sessions (appointments, group seats among them) of the site that touch a
    closed day, by start."""
    return await _booked_rows_on_closed_days(conn, "appointments", site_id, zone, closures)


async def groups_on_closed_days(
    conn: Connection, site_id: UUID, zone: ZoneInfo, closures: tuple[Closure, ...]
) -> list[UUID]:
    """Booked group sessions of the site that touch a closed day, by start: an empty one
    too, which no seat's appointment names."""
    return await _booked_rows_on_closed_days(conn, "group_sessions", site_id, zone, closures)


async def _booked_rows_on_closed_days(
    conn: Connection,
    table: Literal["appointments", "group_sessions"],
    site_id: UUID,
    zone: ZoneInfo,
    closures: tuple[Closure, ...],
) -> list[UUID]:
    """Rows of `table` (both keep `start_at`, `end_at`, `site_id`, `status`) booked on a
    closed day. Read only within the closures' spans (local midnight to local midnight,
    DST-safe)."""
    if not closures:
        return []
    spans = [span_bounds(zone, c) for c in closures]
    rows = await conn.fetch(
        f"""SELECT t.id, t.start_at, t.end_at FROM {table} t
           JOIN unnest($2::timestamptz[], $3::timestamptz[]) AS span(begins, ends)
             ON t.start_at < span.ends AND t.end_at > span.begins
           WHERE t.site_id = $1 AND t.status = 'booked'
           ORDER BY t.start_at, t.id""",
        site_id,
        [begins for begins, _ in spans],
        [ends for _, ends in spans],
    )
    found = dict.fromkeys(
        r["id"] for r in rows if closed_day(closures, zone, r["start_at"], r["end_at"])
    )
    return list(found)
