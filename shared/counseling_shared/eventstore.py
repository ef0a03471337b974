"""The event store: one `events` table per service database (DESIGN §2).

Appends are optimistic: the writer says which version it loaded, and `UNIQUE (stream_id,
version)` turns a concurrent writer's stale version into `ConcurrencyConflict`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar
from uuid import UUID, uuid4

import asyncpg
from pydantic_core import from_json

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
# A replay's columns: the JSON as text, which `_replayed` parses with pydantic-core's parser
# (about twice as fast as the connection's `json.loads`); without metadata, for a replay that
# never reads it, nothing to parse there.
_REPLAY_COLUMNS = _COLUMNS.replace(" data, metadata,", " data::text, metadata::text,")
_REPLAY_COLUMNS_NO_METADATA = _COLUMNS.replace(" data, metadata,", " data::text, NULL AS metadata,")


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


def _replayed(row: asyncpg.Record) -> RecordedEvent:
    """A row of `_REPLAY_COLUMNS`: its JSON text parsed into the same values `json.loads`
    gives (objects, arrays, strings, numbers, booleans, null)."""
    metadata = row["metadata"]
    event: RecordedEvent = _new_object(RecordedEvent)
    # The frozen dataclass's own __init__ sets its nine fields one `object.__setattr__` at a
    # time (a few µs an event, a tenth of a replay's fold); its dict, set whole, holds the
    # same fields (a test checks they are all there).
    _set_attribute(
        event,
        "__dict__",
        {
            "position": row["position"],
            "id": row["id"],
            "stream_id": row["stream_id"],
            "version": row["version"],
            "type": row["type"],
            # Only the keys' strings cached: faster than caching every string (the
            # default), same values.
            "data": from_json(row["data"], cache_strings="keys"),
            "metadata": {} if metadata is None else from_json(metadata, cache_strings="keys"),
            "recorded_at": row["recorded_at"],
            "txid": row["txid"],
        },
    )
    return event


_new_object = object.__new__
_set_attribute = object.__setattr__


def append_statement(first: int, *, only_if: str = "true") -> str:
    """The append's insert, its parameters numbered from `$first` (`append_values`): for a
    caller that writes the events with its own rows in one statement. It returns the rows it
    wrote; fewer than the events means the stream moved (`ConcurrencyConflict`). `only_if`, a
    condition of the caller's, must hold too for anything to be written."""
    n = [f"${i}" for i in range(first, first + 8)]
    # The version check and the insert in one statement. A stream already past the expected
    # version inserts nothing; a concurrent writer's uncommitted row at the same version makes
    # this one wait for it, then skip (DO NOTHING), so a lost race never aborts the caller's
    # transaction and needs no savepoint.
    return f"""INSERT INTO events (id, stream_id, version, type, data, metadata)
            SELECT * FROM unnest({n[0]}::uuid[], {n[1]}::text[], {n[2]}::int[], {n[3]}::text[],
                                 {n[4]}::jsonb[], {n[5]}::jsonb[])
            WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream_id = {n[6]}) = {n[7]}
              AND ({only_if})
            ON CONFLICT (stream_id, version) DO NOTHING
            RETURNING {_COLUMNS}"""


def append_values(stream_id: str, expected_version: int, events: Sequence[NewEvent]) -> list[Any]:
    """The values of `append_statement`."""
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
    return [*(list(col) for col in zip(*rows, strict=True)), stream_id, expected_version]


async def append(
    conn: Connection,
    stream_id: str,
    expected_version: int,
    events: Sequence[NewEvent],
) -> list[RecordedEvent]:
    """Append `events` after `expected_version` (0: a new stream) in the caller's transaction."""
    if not events:
        return []
    records = await conn.fetch(
        append_statement(1), *append_values(stream_id, expected_version, events)
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


class FetchGate(Protocol):
    """Someone else's work on the reader's connection, between the reader's fetches."""

    async def before_fetch(self) -> None:
        """Return once the connection is free for a fetch."""

    def after_fetch(self) -> None:
        """The fetch is done: the connection may be used until the next `before_fetch`."""


async def read_streams(
    conn: Connection,
    prefix: str,
    *,
    prefetch: int = 1000,
    metadata: bool = True,
    gate: FetchGate | None = None,
) -> AsyncIterator[list[RecordedEvent]]:
    """Every stream whose id starts with `prefix`, in stream id order, each as its events in
    version order: one query read through a cursor (so only inside a transaction), instead of
    a round trip per stream. For replays of a whole kind (projection rebuilds). `metadata=False`
    leaves each event's metadata empty, for a replay that does not read it (half the JSON).
    `gate`: the connection is shared with the caller's own work (a rebuild's batched writes),
    which the reader waits for before each fetch of `prefetch` events, and lets go on after."""
    columns = _REPLAY_COLUMNS if metadata else _REPLAY_COLUMNS_NO_METADATA
    async for stream in _read_kind(conn, prefix, columns, _replayed, prefetch, gate):
        yield stream


class StoredJson(NamedTuple):
    """An event as `read_streams_json` reads it: its data as the stored JSON text."""

    stream_id: str
    version: int
    type: str
    data_json: str
    recorded_at: datetime


async def read_streams_json(
    conn: Connection, prefix: str, *, prefetch: int = 1000, gate: FetchGate | None = None
) -> AsyncIterator[list[StoredJson]]:
    """`read_streams`, each event's data left as its JSON text (no metadata): for a replay
    whose decoder parses and validates the text in one step (pydantic's `validate_json`)
    rather than a parsed copy of it."""
    columns = "stream_id, version, type, data::text, recorded_at"
    async for stream in _read_kind(conn, prefix, columns, StoredJson._make, prefetch, gate):
        yield stream


class _Streamed(Protocol):
    @property
    def stream_id(self) -> str: ...


_Event = TypeVar("_Event", bound=_Streamed)


async def _read_kind(
    conn: Connection,
    prefix: str,
    columns: str,
    make: Callable[[asyncpg.Record], _Event],
    prefetch: int,
    gate: FetchGate | None,
) -> AsyncIterator[list[_Event]]:
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    sql = f"SELECT {columns} FROM events WHERE stream_id LIKE $1 ORDER BY stream_id, version"
    if gate is not None:
        await gate.before_fetch()
    cursor = await conn.cursor(sql, pattern)
    stream: list[_Event] = []
    while True:
        if gate is not None:
            await gate.before_fetch()
        rows = await cursor.fetch(prefetch)
        if gate is not None:
            gate.after_fetch()
        for row in rows:
            recorded = make(row)
            if stream and stream[-1].stream_id != recorded.stream_id:
                yield stream
                stream = []
            stream.append(recorded)
        if len(rows) < prefetch:
            break
    if stream:
        yield stream


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
