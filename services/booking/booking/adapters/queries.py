"""Read-side lookups for the HTTP API: lists filtered by what the caller may see."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from booking.adapters.projections import appointment_from, client_from, room_from, site_from
from booking.adapters.projections import staff_from as staff_member_from
from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.client import Client
from booking.domain.room import Room
from booking.domain.site import Site
from booking.domain.staff import StaffMember

if TYPE_CHECKING:
    from counseling_shared.db import Connection

RowKey = tuple[Any, ...]
"""A row's sort key, e.g. (registered_at, id): a page continues after one."""


@dataclass(frozen=True)
class Window:
    """One keyset page: at most `size` rows whose sort key comes after `after`."""

    size: int
    after: RowKey | None = None


class Where:
    """AND-ed conditions with numbered parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def add(self, condition: str, *values: Any) -> None:
        names = []
        for value in values:
            self.args.append(value)
            names.append(f"${len(self.args)}")
        self.conditions.append(condition.format(*names))

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.conditions) if self.conditions else ""


def keyset(where: Where, columns: str, window: Window) -> str:
    """Continue after the window's key; the ORDER BY and LIMIT that go with it."""
    if window.after is not None:
        marks = ", ".join("{}" for _ in window.after)
        where.add(f"({columns}) > ({marks})", *window.after)
    return f" ORDER BY {columns} LIMIT {int(window.size)}"


def scope(where: Where, site_id: UUID | None, visible_sites: Collection[UUID] | None) -> None:
    if site_id is not None:
        where.add("site_id = {}", site_id)
    if visible_sites is not None:
        where.add("site_id = ANY({}::uuid[])", list(visible_sites))


async def list_sites(
    conn: Connection, visible_sites: Collection[UUID] | None, window: Window
) -> list[Site]:
    where = Where()
    if visible_sites is not None:
        where.add("id = ANY({}::uuid[])", list(visible_sites))
    page = keyset(where, "registered_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM sites{where.sql()}{page}", *where.args)
    return [site_from(r) for r in rows]


async def list_staff(
    conn: Connection,
    site_id: UUID | None,
    visible_sites: Collection[UUID] | None,
    window: Window,
    role: str | None = None,
) -> list[StaffMember]:
    where = Where()
    scope(where, site_id, visible_sites)
    if role is not None:
        where.add("role = {}", role)
    page = keyset(where, "registered_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM staff{where.sql()}{page}", *where.args)
    return [staff_member_from(r) for r in rows]


async def list_rooms(
    conn: Connection, site_id: UUID | None, visible_sites: Collection[UUID] | None, window: Window
) -> list[Room]:
    where = Where()
    scope(where, site_id, visible_sites)
    page = keyset(where, "registered_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM rooms{where.sql()}{page}", *where.args)
    return [room_from(r) for r in rows]


async def list_clients(
    conn: Connection, site_id: UUID | None, visible_sites: Collection[UUID] | None, window: Window
) -> list[Client]:
    where = Where()
    scope(where, site_id, visible_sites)
    page = keyset(where, "registered_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM clients{where.sql()}{page}", *where.args)
    return [client_from(r) for r in rows]


@dataclass(frozen=True)
class AppointmentFilter:
    """`starts_before`/`ends_after` select appointments that overlap `[from, to)`."""

    counselor_id: UUID | None = None
    client_id: UUID | None = None
    room_id: UUID | None = None
    site_id: UUID | None = None
    status: AppointmentStatus | None = None
    ends_after: datetime | None = None
    starts_before: datetime | None = None


async def list_appointments(
    conn: Connection,
    selection: AppointmentFilter,
    visible_sites: Collection[UUID] | None,
    window: Window,
) -> list[Appointment]:
    where = Where()
    scope(where, selection.site_id, visible_sites)
    for column in ("counselor_id", "client_id", "room_id"):
        value = getattr(selection, column)
        if value is not None:
            where.add(f"{column} = {{}}", value)
    if selection.status is not None:
        where.add("status = {}", selection.status.value)
    if selection.ends_after is not None:
        where.add("end_at > {}", selection.ends_after)
    if selection.starts_before is not None:
        where.add("start_at < {}", selection.starts_before)
    page = keyset(where, "start_at, id", window)
    rows = await conn.fetch(f"SELECT * FROM appointments{where.sql()}{page}", *where.args)
    return [appointment_from(r) for r in rows]
