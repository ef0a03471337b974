"""Projection rows of group sessions (`group_sessions`), their slot claims and their seats
(the appointments naming them)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from booking.adapters import claims
from booking.adapters.projections import appointment_from
from booking.adapters.queries import Where, Window, keyset, scope
from booking.domain.appointment import Appointment
from booking.domain.group_session import GroupCancellation, GroupSession, GroupSessionStatus
from booking.domain.slots import TimeSlot
from counseling_shared.codes import CancelledBy, Modality

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def group_session_from(row: asyncpg.Record) -> GroupSession:
    cancellation = (
        GroupCancellation(
            CancelledBy(row["cancelled_by"]), row["cancel_reason"], row["cancelled_at"]
        )
        if row["cancelled_by"] is not None
        else None
    )
    return GroupSession(
        id=row["id"],
        site_id=row["site_id"],
        counselor_id=row["counselor_id"],
        room_id=row["room_id"],
        modality=Modality(row["modality"]),
        slot=TimeSlot(row["start_at"], row["end_at"]),
        capacity=row["capacity"],
        status=GroupSessionStatus(row["status"]),
        scheduled_at=row["scheduled_at"],
        version=row["version"],
        cancellation=cancellation,
        on_closed_day=row["on_closed_day"],
    )


async def load_group_session(
    conn: Connection, group_session_id: UUID, *, locked: bool = False
) -> GroupSession | None:
    """`locked`: the row is locked until the transaction ends, so whoever seats a client or
    moves the group next waits and then counts the seats this transaction took."""
    lock = " FOR UPDATE" if locked else ""
    row = await conn.fetchrow(f"SELECT * FROM group_sessions WHERE id = $1{lock}", group_session_id)
    return group_session_from(row) if row else None


_COLUMNS = (
    "id",
    "site_id",
    "counselor_id",
    "room_id",
    "modality",
    "start_at",
    "end_at",
    "capacity",
    "status",
    "scheduled_at",
    "cancelled_by",
    "cancel_reason",
    "cancelled_at",
    "version",
    "on_closed_day",
)


def _row(session: GroupSession) -> tuple[object, ...]:
    """The values of `_COLUMNS`, in order."""
    cancellation = session.cancellation
    return (
        session.id,
        session.site_id,
        session.counselor_id,
        session.room_id,
        session.modality.value,
        session.start,
        session.end,
        session.capacity,
        session.status.value,
        session.scheduled_at,
        cancellation.cancelled_by.value if cancellation else None,
        cancellation.reason if cancellation else None,
        cancellation.cancelled_at if cancellation else None,
        session.version,
        session.on_closed_day,
    )


async def save_group_session(conn: Connection, session: GroupSession) -> None:
    """Upsert the row and its claim. Raises `asyncpg.ExclusionViolationError` when the claim
    collides with another appointment's, hold's or group's."""
    marks = ", ".join(f"${n}" for n in range(1, len(_COLUMNS) + 1))
    await conn.execute(
        f"""INSERT INTO group_sessions ({", ".join(_COLUMNS)}) VALUES ({marks})
           ON CONFLICT (id) DO UPDATE SET
               room_id = EXCLUDED.room_id, start_at = EXCLUDED.start_at,
               end_at = EXCLUDED.end_at, capacity = EXCLUDED.capacity, status = EXCLUDED.status,
               cancelled_by = EXCLUDED.cancelled_by, cancel_reason = EXCLUDED.cancel_reason,
               cancelled_at = EXCLUDED.cancelled_at, version = EXCLUDED.version,
               on_closed_day = EXCLUDED.on_closed_day""",
        *_row(session),
    )
    await claims.sync(conn, claims.of_group_session(session))


async def save_replayed_group_session(conn: Connection, session: GroupSession) -> None:
    """A rebuild's save into the emptied tables: the row and its live claim, as inserts."""
    await conn.copy_records_to_table("group_sessions", records=(_row(session),), columns=_COLUMNS)
    await claims.insert_replayed(conn, claims.of_group_session(session))


async def seats_of(conn: Connection, group_session_id: UUID) -> list[Appointment]:
    """Every seat not cancelled (booked, completed or missed: each holds its place), in the
    order they were taken."""
    rows = await conn.fetch(
        """SELECT * FROM appointments
           WHERE group_session_id = $1 AND status <> 'cancelled'
           ORDER BY booked_at, id""",
        group_session_id,
    )
    return [appointment_from(r) for r in rows]


async def held_seats(conn: Connection, group_session_id: UUID) -> int:
    """Seats held for the group's open waitlist offers (live holds naming the session)."""
    held: int = await conn.fetchval(
        "SELECT count(*) FROM holds WHERE group_session_id = $1 AND status = 'held'",
        group_session_id,
    )
    return held


async def held_seats_of_many(
    conn: Connection, group_session_ids: Collection[UUID]
) -> dict[UUID, int]:
    """`held_seats` for each session, in one query."""
    rows = await conn.fetch(
        """SELECT group_session_id, count(*) AS held FROM holds
           WHERE group_session_id = ANY($1::uuid[]) AND status = 'held'
           GROUP BY group_session_id""",
        list(group_session_ids),
    )
    found = dict.fromkeys(group_session_ids, 0)
    found.update({r["group_session_id"]: r["held"] for r in rows})
    return found


@dataclass(frozen=True)
class GroupSessionFilter:
    """`starts_before`/`ends_after` select sessions that overlap `[from, to)`."""

    counselor_id: UUID | None = None
    site_id: UUID | None = None
    ends_after: datetime | None = None
    starts_before: datetime | None = None


async def list_group_sessions(
    conn: Connection,
    selection: GroupSessionFilter,
    visible_sites: Collection[UUID] | None,
    window: Window,
) -> list[GroupSession]:
    where = Where()
    scope(where, selection.site_id, visible_sites)
    if selection.counselor_id is not None:
        where.add("counselor_id = {}", selection.counselor_id)
    if selection.ends_after is not None:
        where.add("end_at > {}", selection.ends_after)
    if selection.starts_before is not None:
        where.add("start_at < {}", selection.starts_before)
    page = keyset(where, "start_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM group_sessions{where.sql()}{page}", *where.args)
    return [group_session_from(r) for r in rows]


async def seats_of_many(
    conn: Connection, group_session_ids: Collection[UUID]
) -> dict[UUID, list[Appointment]]:
    """`seats_of` for each session, in one query."""
    rows = await conn.fetch(
        """SELECT * FROM appointments
           WHERE group_session_id = ANY($1::uuid[]) AND status <> 'cancelled'
           ORDER BY booked_at, id""",
        list(group_session_ids),
    )
    found: dict[UUID, list[Appointment]] = {i: [] for i in group_session_ids}
    for row in rows:
        found[row["group_session_id"]].append(appointment_from(row))
    return found
