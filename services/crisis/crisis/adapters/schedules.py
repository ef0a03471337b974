"""Schedules in PostgreSQL: an event stream per schedule, and its projection rows
(`schedules`, `schedule_overrides`). A schedule is read with its site's closed days
(`site_closures`, local dates in the site's zone from `sites`), which its restrictions may
follow; they are never in its events."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from counseling_shared.eventstore import NewEvent, RecordedEvent, read_stream
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import site_closures, sites
from crisis.adapters.codec import written_at, written_metadata
from crisis.adapters.schedule_codec import (
    event_from_json,
    event_json,
    layers_from_json,
    layers_json,
    running_from_json,
    running_json,
)
from crisis.domain.schedules.aggregate import ScheduleEvent, ScheduleState, fold
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.schedule import Schedule
from crisis.domain.site_closures import closed_days

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def stream_id(schedule_id: UUID) -> str:
    return f"schedule-{schedule_id}"


@dataclass(frozen=True)
class LoadedSchedule:
    state: ScheduleState
    version: int


async def load(conn: Connection, schedule_id: UUID) -> LoadedSchedule | None:
    """Fold the schedule's own events (the write path; readers use `state_of`)."""
    records = await read_stream(conn, stream_id(schedule_id))
    state = fold(from_stored(r) for r in records)
    if state is None:
        return None
    site_id = state.schedule.site_id
    closures = await site_closures.closures_of(conn, site_id)
    site_zone = await sites.timezone_of(conn, site_id)
    with_days = replace(state.schedule, closed_days=closed_days(closures, _zone(site_zone)))
    return LoadedSchedule(replace(state, schedule=with_days), len(records))


def _zone(name: str | None) -> ZoneInfo | None:
    """The site's zone for its closed dates (unknown or not a zone here: None, the schedule's)."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def from_stored(record: RecordedEvent) -> ScheduleEvent:
    return event_from_json(record.type, record.data, written_at(record) or record.recorded_at)


async def lock(conn: Connection, schedule_id: UUID) -> bool:
    found = await conn.fetchval("SELECT true FROM schedules WHERE id = $1 FOR UPDATE", schedule_id)
    return bool(found)


async def save(
    uow: UnitOfWork,
    schedule_id: UUID,
    loaded: LoadedSchedule | None,
    events: list[ScheduleEvent],
) -> ScheduleState:
    """Append after the loaded version (ConcurrencyConflict if another won) and project."""
    version = loaded.version if loaded else 0
    now = uow.now()
    stored = [NewEvent(*event_json(e), written_metadata(now)) for e in events]
    await uow.append(stream_id(schedule_id), version, stored)
    state = fold(events, loaded.state if loaded else None)
    assert state is not None
    await project(uow.conn, state, version + len(events), now)
    return state


async def project(
    conn: Connection,
    state: ScheduleState,
    version: int,
    now: datetime,
    created_at: datetime | None = None,
) -> None:
    """Write the schedule's row and its overrides as `state` has them. `now` stamps
    `updated_at` (and `created_at` of a new row, unless `created_at` is given)."""
    schedule = state.schedule
    await conn.execute(
        """INSERT INTO schedules (id, site_id, name, timezone, layers, version, created_at,
               updated_at, running_layers) VALUES ($1, $2, $3, $4, $5, $6, $8, $7, $9)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone,
               layers = EXCLUDED.layers, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at, running_layers = EXCLUDED.running_layers""",
        schedule.schedule_id,
        schedule.site_id,
        schedule.name,
        schedule.timezone,
        layers_json(schedule),
        version,
        now,
        created_at or now,
        running_json(schedule),
    )
    await conn.execute(
        "DELETE FROM schedule_overrides WHERE schedule_id = $1", schedule.schedule_id
    )
    await conn.executemany(
        """INSERT INTO schedule_overrides (id, schedule_id, seq, staff_id, replaces, start_at,
               end_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        [
            (o.override_id, schedule.schedule_id, i, o.staff_id, o.replaces, o.start, o.end)
            for i, o in enumerate(state.overrides, start=1)
        ],
    )


@dataclass(frozen=True)
class StoredSchedule:
    state: ScheduleState
    version: int
    created_at: datetime
    updated_at: datetime


async def state_of(conn: Connection, schedule_id: UUID) -> StoredSchedule | None:
    """The schedule as its projection rows hold it, with every override."""
    row = await conn.fetchrow(
        """SELECT s.id, s.site_id, s.name, s.timezone, s.layers, s.version, s.created_at,
               s.updated_at, s.running_layers, c.closures, z.timezone AS site_timezone
           FROM schedules s LEFT JOIN site_closures c ON c.site_id = s.site_id
           LEFT JOIN sites z ON z.site_id = s.site_id
           WHERE s.id = $1""",
        schedule_id,
    )
    if row is None:
        return None
    overrides = await conn.fetch(
        """SELECT id, staff_id, replaces, start_at, end_at FROM schedule_overrides
           WHERE schedule_id = $1 ORDER BY seq""",
        schedule_id,
    )
    schedule = Schedule(
        row["id"],
        row["site_id"],
        row["name"],
        row["timezone"],
        layers_from_json(row["layers"]),
        running_from_json(row["running_layers"]),
        closed_days(site_closures.closures_from_json(row["closures"]), _zone(row["site_timezone"])),
    )
    state = ScheduleState(
        schedule,
        tuple(
            Override(o["id"], o["staff_id"], o["start_at"], o["end_at"], o["replaces"])
            for o in overrides
        ),
    )
    return StoredSchedule(state, row["version"], row["created_at"], row["updated_at"])


async def states_of(conn: Connection, schedule_ids: Collection[UUID]) -> dict[UUID, ScheduleState]:
    """The schedules among `schedule_ids` that exist."""
    found = {}
    for schedule_id in set(schedule_ids):
        stored = await state_of(conn, schedule_id)
        if stored is not None:
            found[schedule_id] = stored.state
    return found


async def sites_of(conn: Connection, schedule_ids: Collection[UUID]) -> dict[UUID, UUID]:
    """The site of each of `schedule_ids` (unknown ids left out)."""
    rows = await conn.fetch(
        "SELECT id, site_id FROM schedules WHERE id = ANY($1::uuid[])", list(schedule_ids)
    )
    return {r["id"]: r["site_id"] for r in rows}
