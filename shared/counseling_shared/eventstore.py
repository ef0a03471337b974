"""The event store: one `events` table per service database (DESIGN §2).

Appends are optimistic: the writer says which version it loaded, and `UNIQUE (stream_id,
version)` turns a concurrent writer's stale version into `ConcurrencyConflict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import asyncpg

from counseling_shared import audit

if TYPE_CHECKING:
    from counseling_shared.db import Connection


JsonObject = dict[str, Any]


class ConcurrencyConflict(Exception):
    """The stream moved past the version the writer loaded."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


@dataclass(frozen=True)
class NewEvent:
    """An aggregate event about to be stored. `type` names the service's own event class."""

    type: str
    data: JsonObject
    metadata: JsonObject = field(default_factory=dict)
    id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    id: UUID
    stream_id: str
    version: int
    type: str
    data: JsonObject
    metadata: JsonObject
    recorded_at: datetime
    txid: int


@dataclass(frozen=True, order=True)
class CommitPosition:
    """Where a "read all" reader stands: (writing transaction, position) in commit order."""

    txid: int
    position: int


_COLUMNS = "position, id, stream_id, version, type, data, metadata, recorded_at, txid::text::bigint"


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        id=row["id"],
        stream_id=row["stream_id"],
        version=row["version"],
        type=row["type"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
        txid=row["txid"],
    )


async def append(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
) -> list[RecordedEvent]:
    """Append `events` after `expected_version` (0: a new stream) in the caller's transaction."""
    if not events:
        return []
    actor = audit.actor_metadata()  # who caused it, when written while serving a request
    rows = [
        (
            e.id,
            stream_id,
            expected_version + i,
            e.type,
            e.data,
            {**e.metadata, "actor": actor} if actor else e.metadata,
        )
        for i, e in enumerate(events, start=1)
    ]
    # One round trip: the version check and the insert in one statement. A stream already
    # past `expected_version` inserts nothing; a concurrent writer's uncommitted row at the
    # same version makes this one wait for it, then skip (DO NOTHING), so a lost race never
    # aborts the caller's transaction and needs no savepoint.
    records = await conn.fetch(
        f"""INSERT INTO events (id, stream_id, version, type, data, metadata)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[],
                                 $5::jsonb[], $6::jsonb[])
            WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $7) = $8
            ON CONFLICT (stream_id, version) DO NOTHING
            RETURNING {_COLUMNS}""",
        *(list(col) for col in zip(*rows, strict=True)),
        stream_id,
        expected_version,
    )
    if len(records) != len(events):
        if records:  # a writer that appended fewer events got there first: take ours back
            await conn.execute(
                "DELETE FROM events WHERE id = ANY($1::uuid[])", [r["id"] for r in records]
            )
        raise ConcurrencyConflict(stream_id, expected_version)
    return [_recorded(r) for r in records]


async def read_stream(
    conn: Connection, stream_id: str, after_version: int = 0
) -> list[RecordedEvent]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
        stream_id,
        after_version,
    )
    return [_recorded(r) for r in rows]


async def read_all(
    conn: Connection, after: CommitPosition | None = None, limit: int = 1000
) -> list[RecordedEvent]:
    """Events in commit order after `after`, stopping below the oldest transaction still running.

    A `bigserial` does not follow commit order, so a plain "position > N" reader can skip an event
    whose transaction commits late. Stopping below `pg_snapshot_xmin` means every event returned
    belongs to a finished transaction, and none can appear later before the cursor.
    """
    start = after or CommitPosition(0, 0)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM events
            WHERE (txid, position) > ($1::text::xid8, $2)
              AND txid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY txid, position
            LIMIT $3""",
        str(start.txid),
        start.position,
        limit,
    )
    return [_recorded(r) for r in rows]


async def stream_version(conn: Connection, stream_id: str) -> int:
    version: int = await conn.fetchval(
        "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", stream_id
    )
    return version
