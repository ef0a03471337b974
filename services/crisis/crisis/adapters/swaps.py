"""Shift swap requests in PostgreSQL: an event stream per request (`shift-swap-<id>`, holding
the public events it published) and its projection row (`shift_swap_requests`), which is also
the request's expiry timer (due at its start while `open`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.events import IntegrationEvent
from counseling_shared.eventstore import NewEvent, RecordedEvent
from counseling_shared.scheduler import notify_timer_added
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.codec import written_metadata
from crisis.domain.schedules.swaps import SwapRequest, SwapStatus

if TYPE_CHECKING:
    from counseling_shared.db import Connection

TABLE = "shift_swap_requests"
CHANNEL = "shift_swap_requests"
DUE = "status = 'open'"

_COLUMNS = """id, schedule_id, site_id, requester_id, offered_to, start_at, end_at, status,
    taken_by, override_id, created_at, updated_at, version"""


def stream_id(swap_request_id: UUID) -> str:
    return f"shift-swap-{swap_request_id}"


@dataclass(frozen=True)
class StoredSwap:
    request: SwapRequest
    version: int
    created_at: datetime
    updated_at: datetime


def _stored(row: Any) -> StoredSwap:
    request = SwapRequest(
        row["id"],
        row["schedule_id"],
        row["site_id"],
        row["requester_id"],
        tuple(row["offered_to"]),
        row["start_at"],
        row["end_at"],
        SwapStatus(row["status"]),
        row["taken_by"],
        row["override_id"],
    )
    return StoredSwap(request, row["version"], row["created_at"], row["updated_at"])


async def get(conn: Connection, swap_request_id: UUID) -> StoredSwap | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {TABLE} WHERE id = $1", swap_request_id)
    return _stored(row) if row else None


async def lock(conn: Connection, swap_request_id: UUID) -> StoredSwap | None:
    """The request, locked until the transaction ends: two takes are served one after the
    other, and the second finds it taken."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE id = $1 FOR UPDATE", swap_request_id
    )
    return _stored(row) if row else None


async def lock_taker(conn: Connection, staff_id: UUID) -> None:
    """Until commit, no other take by `staff_id` runs: a take reads the policy's other
    schedules without locking them, so two takes by one person at once (two requests on two
    schedules of one policy) would each miss the other's override."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"swap-taker:{staff_id}"
    )


async def list_for_schedule(
    conn: Connection,
    schedule_id: UUID,
    *,
    status: str | None,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
) -> list[StoredSwap]:
    """By start, then id; `after` continues a page after that (start, id)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM {TABLE}
            WHERE schedule_id = $1 AND ($2::text IS NULL OR status = $2)
              AND ($4::timestamptz IS NULL OR (start_at, id) > ($4, $5::uuid))
            ORDER BY start_at, id LIMIT $3""",
        schedule_id,
        status,
        limit,
        after[0] if after else None,
        after[1] if after else None,
    )
    return [_stored(r) for r in rows]


async def save(
    uow: UnitOfWork, request: SwapRequest, loaded: StoredSwap | None, event: IntegrationEvent
) -> StoredSwap:
    """Append `event` after the loaded version (ConcurrencyConflict if another won), write the
    row as `request` has it, and wake the expiry scheduler for a new request."""
    now = uow.now()
    version = loaded.version if loaded else 0
    stored = NewEvent(event.event_type, event.model_dump(mode="json"), written_metadata(now))
    await uow.append(stream_id(request.swap_request_id), version, [stored])
    created_at = loaded.created_at if loaded else now
    await project(uow.conn, request, version + 1, created_at, now)
    if loaded is None:
        await notify_timer_added(uow.conn, CHANNEL, request.expires_at)
    return StoredSwap(request, version + 1, created_at, now)


async def project(
    conn: Connection,
    request: SwapRequest,
    version: int,
    created_at: datetime,
    updated_at: datetime,
) -> None:
    """Write the request's row (the write path after each step, the rebuild once per stream:
    it writes only, so a rebuild may batch it)."""
    await conn.execute(
        f"""INSERT INTO {TABLE} (id, schedule_id, site_id, requester_id, offered_to, start_at,
                end_at, status, taken_by, override_id, due_at, created_at, updated_at, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $6, $11, $12, $13)
            ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                taken_by = EXCLUDED.taken_by, override_id = EXCLUDED.override_id,
                updated_at = EXCLUDED.updated_at, version = EXCLUDED.version""",
        request.swap_request_id,
        request.schedule_id,
        request.site_id,
        request.requester_id,
        list(request.offered_to),
        request.start,
        request.end,
        request.status.value,
        request.taken_by,
        request.override_id,
        created_at,
        updated_at,
        version,
    )


# Each stored event's type → the status it leaves the request in.
_STATUS_AFTER = {
    "ShiftSwapRequested": SwapStatus.OPEN,
    "ShiftSwapTaken": SwapStatus.TAKEN,
    "ShiftSwapCancelled": SwapStatus.CANCELLED,
    "ShiftSwapExpired": SwapStatus.EXPIRED,
}


def from_stored(last: RecordedEvent) -> SwapRequest:
    """The request as its stream's last event leaves it: each event carries the whole request
    (ids and instants), and its type the status."""
    data = last.data

    def optional(name: str) -> UUID | None:
        value = data.get(name)
        return UUID(value) if value else None

    return SwapRequest(
        UUID(data["swap_request_id"]),
        UUID(data["schedule_id"]),
        UUID(data["site_id"]),
        UUID(data["requester_id"]),
        tuple(UUID(s) for s in data["offered_to"]),
        datetime.fromisoformat(data["start"]),
        datetime.fromisoformat(data["end"]),
        _STATUS_AFTER[last.type],
        optional("taken_by"),
        optional("override_id"),
    )


async def open_offered_to(
    conn: Connection, staff_id: UUID, now: datetime, limit: int = 20
) -> list[StoredSwap]:
    """The open requests `staff_id` may take that have not started, soonest first (the
    on-call page lists them)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM {TABLE}
            WHERE status = 'open' AND $1 = ANY(offered_to) AND start_at > $2
            ORDER BY start_at, id LIMIT $3""",
        staff_id,
        now,
        limit,
    )
    return [_stored(r) for r in rows]
