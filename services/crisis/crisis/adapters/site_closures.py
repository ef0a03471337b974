"""Sites' closures in PostgreSQL: crisis's stream `site-closures-<site_id>` (one
`SiteClosuresRecorded` per list recorded) and its projection `site_closures`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.eventstore import NewEvent, RecordedEvent
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import written_at, written_metadata
from crisis.domain.site_closures import Closure, SiteClosuresRecorded

if TYPE_CHECKING:
    from counseling_shared.db import Connection

EVENT_TYPE = "SiteClosuresRecorded"


def stream_id(site_id: UUID) -> str:
    return f"site-closures-{site_id}"


def closures_json(closures: Sequence[Closure]) -> list[dict[str, Any]]:
    return [
        {"from": c.first.isoformat(), "to": c.last.isoformat(), "kind": c.kind} for c in closures
    ]


def closures_from_json(data: Sequence[dict[str, Any]] | None) -> tuple[Closure, ...]:
    return tuple(
        Closure(date.fromisoformat(c["from"]), date.fromisoformat(c["to"]), c["kind"])
        for c in data or ()
    )


def event_json(event: SiteClosuresRecorded) -> dict[str, Any]:
    return {
        "site_id": str(event.site_id),
        "closures": closures_json(event.closures),
        "changed_at": event.changed_at.isoformat(),
    }


def from_stored(record: RecordedEvent) -> SiteClosuresRecorded:
    data = record.data
    return SiteClosuresRecorded(
        UUID(data["site_id"]),
        closures_from_json(data["closures"]),
        datetime.fromisoformat(data["changed_at"]),
    )


@dataclass(frozen=True)
class StoredClosures:
    recorded: SiteClosuresRecorded
    version: int


async def load(conn: Connection, site_id: UUID) -> StoredClosures | None:
    """The list kept for the site (its row locked until the transaction ends)."""
    row = await conn.fetchrow(
        """SELECT closures, changed_at, version FROM site_closures WHERE site_id = $1
           FOR UPDATE""",
        site_id,
    )
    if row is None:
        return None
    recorded = SiteClosuresRecorded(site_id, closures_from_json(row["closures"]), row["changed_at"])
    return StoredClosures(recorded, row["version"])


async def save(
    uow: UnitOfWork,
    stored: StoredClosures | None,
    events: list[SiteClosuresRecorded],
) -> None:
    """Append after the stored version (ConcurrencyConflict if another won) and project."""
    if not events:
        return
    version = stored.version if stored else 0
    now = uow.now()
    site_id = events[-1].site_id
    await uow.append(
        stream_id(site_id),
        version,
        [NewEvent(EVENT_TYPE, event_json(e), written_metadata(now)) for e in events],
    )
    await project(uow.conn, events[-1], version + len(events), now)


async def project(
    conn: Connection, recorded: SiteClosuresRecorded, version: int, now: datetime
) -> None:
    """Write-only (a rebuild batches it): an upsert keyed by the site."""
    await conn.execute(
        """INSERT INTO site_closures (site_id, closures, changed_at, version, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (site_id) DO UPDATE SET closures = EXCLUDED.closures,
               changed_at = EXCLUDED.changed_at, version = EXCLUDED.version,
               updated_at = EXCLUDED.updated_at""",
        recorded.site_id,
        closures_json(recorded.closures),
        recorded.changed_at,
        version,
        now,
    )


async def project_replayed(conn: Connection, records: list[RecordedEvent]) -> None:
    """A rebuild's write of one site's stream: the last list recorded."""
    last = records[-1]
    await project(conn, from_stored(last), last.version, written_at(last) or last.recorded_at)


async def closures_of(conn: Connection, site_id: UUID) -> tuple[Closure, ...]:
    """The site's closures (none known: none)."""
    found = await conn.fetchval("SELECT closures FROM site_closures WHERE site_id = $1", site_id)
    return closures_from_json(found)
