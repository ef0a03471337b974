"""Projection rows of working hours, site booking rules and holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from booking.adapters import claims
from booking.adapters.closures_store import closures_from
from booking.domain.scheduling.closures import Closure
from booking.domain.scheduling.holds import Hold, HoldStatus
from booking.domain.scheduling.hours import DateException, WeeklyPeriod, WorkingHours
from booking.domain.scheduling.rules import BookingRules, Fee
from booking.domain.slots import TimeSlot
from counseling_shared.codes import Modality
from counseling_shared.scheduler import notify_timer_added

if TYPE_CHECKING:
    from counseling_shared.db import Connection

HOLD_TIMER_CHANNEL = "booking_holds"

# --- working hours -----------------------------------------------------------------------


def _weekly_json(weekly: tuple[WeeklyPeriod, ...]) -> list[dict[str, Any]]:
    return [
        {"weekday": p.weekday, "from": p.start.isoformat(), "to": p.end.isoformat()} for p in weekly
    ]


def _exceptions_json(exceptions: tuple[DateException, ...]) -> list[dict[str, Any]]:
    return [
        {
            "date": e.on.isoformat(),
            "off": e.off,
            "from": e.start.isoformat() if e.start else None,
            "to": e.end.isoformat() if e.end else None,
        }
        for e in exceptions
    ]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def hours_from(row: asyncpg.Record | Mapping[str, Any]) -> WorkingHours:
    weekly = tuple(
        WeeklyPeriod(p["weekday"], time.fromisoformat(p["from"]), time.fromisoformat(p["to"]))
        for p in _json(row["weekly"])
    )
    exceptions = tuple(
        DateException(
            date.fromisoformat(e["date"]),
            e["off"],
            time.fromisoformat(e["from"]) if e["from"] else None,
            time.fromisoformat(e["to"]) if e["to"] else None,
        )
        for e in _json(row["exceptions"])
    )
    return WorkingHours(
        row["staff_id"], row["site_id"], weekly, exceptions, row["set_at"], row["version"]
    )


async def load_hours(conn: Connection, staff_id: UUID) -> WorkingHours | None:
    row = await conn.fetchrow("SELECT * FROM working_hours WHERE staff_id = $1", staff_id)
    return hours_from(row) if row else None


async def hours_at_site(conn: Connection, site_id: UUID) -> list[WorkingHours]:
    rows = await conn.fetch(
        """SELECT h.* FROM working_hours h JOIN staff s ON s.id = h.staff_id
           WHERE h.site_id = $1 AND s.deactivated_at IS NULL ORDER BY h.staff_id""",
        site_id,
    )
    return [hours_from(r) for r in rows]


async def save_hours(conn: Connection, hours: WorkingHours) -> None:
    await conn.execute(
        """INSERT INTO working_hours (staff_id, site_id, weekly, exceptions, set_at, version)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (staff_id) DO UPDATE SET
               weekly = EXCLUDED.weekly, exceptions = EXCLUDED.exceptions,
               set_at = EXCLUDED.set_at, version = EXCLUDED.version""",
        hours.staff_id,
        hours.site_id,
        _weekly_json(hours.weekly),
        _exceptions_json(hours.exceptions),
        hours.set_at,
        hours.version,
    )


# --- site booking rules ------------------------------------------------------------------


async def load_rules(conn: Connection, site_id: UUID) -> BookingRules | None:
    row = await conn.fetchrow("SELECT * FROM site_booking_rules WHERE site_id = $1", site_id)
    if row is None:
        return None
    fee = Fee(row["fee_amount"], row["fee_currency"]) if row["fee_amount"] is not None else None
    return BookingRules(
        row["site_id"],
        row["buffer_minutes"],
        fee,
        row["set_at"],
        row["version"],
        row["client_reschedule"],
        row["client_reschedule_days"],
    )


async def save_rules(conn: Connection, rules: BookingRules) -> None:
    fee = rules.missed_session_fee
    await conn.execute(
        """INSERT INTO site_booking_rules (site_id, buffer_minutes, fee_amount, fee_currency,
                                           set_at, version, client_reschedule,
                                           client_reschedule_days)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (site_id) DO UPDATE SET
               buffer_minutes = EXCLUDED.buffer_minutes, fee_amount = EXCLUDED.fee_amount,
               fee_currency = EXCLUDED.fee_currency, set_at = EXCLUDED.set_at,
               version = EXCLUDED.version, client_reschedule = EXCLUDED.client_reschedule,
               client_reschedule_days = EXCLUDED.client_reschedule_days""",
        rules.site_id,
        rules.buffer_minutes,
        fee.amount if fee else None,
        fee.currency if fee else None,
        rules.set_at,
        rules.version,
        rules.client_reschedule,
        rules.client_reschedule_days,
    )


# --- holds -------------------------------------------------------------------------------


def hold_from(row: asyncpg.Record) -> Hold:
    return Hold(
        id=row["id"],
        site_id=row["site_id"],
        counselor_id=row["counselor_id"],
        client_id=row["client_id"],
        room_id=row["room_id"],
        modality=Modality(row["modality"]),
        slot=TimeSlot(row["start_at"], row["end_at"]),
        placed_at=row["placed_at"],
        expires_at=row["due_at"],
        status=HoldStatus(row["status"]),
        version=row["version"],
        appointment_id=row["appointment_id"],
        released_at=row["released_at"],
        group_session_id=row["group_session_id"],
    )


async def load_hold(
    conn: Connection, hold_id: UUID, *, lock: bool = False, skip_locked: bool = False
) -> Hold | None:
    """`skip_locked`: None when another transaction holds the row (the hold timer firing)."""
    sql = "SELECT * FROM holds WHERE id = $1" + (" FOR UPDATE" if lock else "")
    sql += " SKIP LOCKED" if lock and skip_locked else ""
    row = await conn.fetchrow(sql, hold_id)
    return hold_from(row) if row else None


async def save_hold(conn: Connection, hold: Hold) -> None:
    """Upsert the row and its slot claim; a new hold wakes the expiry timers. Raises
    `asyncpg.ExclusionViolationError` when the slot is taken."""
    await conn.execute(
        """INSERT INTO holds (id, site_id, counselor_id, client_id, room_id, modality, start_at,
                              end_at, placed_at, due_at, status, appointment_id, released_at,
                              version, group_session_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (id) DO UPDATE SET
               status = EXCLUDED.status, appointment_id = EXCLUDED.appointment_id,
               released_at = EXCLUDED.released_at, version = EXCLUDED.version""",
        hold.id,
        hold.site_id,
        hold.counselor_id,
        hold.client_id,
        hold.room_id,
        hold.modality.value,
        hold.slot.start,
        hold.slot.end,
        hold.placed_at,
        hold.expires_at,
        hold.status.value,
        hold.appointment_id,
        hold.released_at,
        hold.version,
        hold.group_session_id,
    )
    await claims.sync(conn, claims.of_hold(hold))
    if hold.version == 1:
        await notify_timer_added(conn, HOLD_TIMER_CHANNEL, hold.expires_at)


# --- availability ------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCalendar:
    """What availability needs of a site, read in one round trip."""

    timezone: str
    buffer_minutes: int
    room_ids: list[UUID]
    hours: list[WorkingHours]
    closures: tuple[Closure, ...] = ()


async def site_calendar(
    conn: Connection, site_id: UUID, counselor_id: UUID | None
) -> SiteCalendar | None:
    """The site's zone and buffer, its rooms, and its active counselors' hours (one of them
    when `counselor_id` is given)."""
    row = await conn.fetchrow(
        """WITH worked AS (
               SELECT h.* FROM working_hours h JOIN staff s ON s.id = h.staff_id
               WHERE h.site_id = $1 AND s.deactivated_at IS NULL
                 AND ($2::uuid IS NULL OR h.staff_id = $2)
           )
           SELECT s.timezone, coalesce(r.buffer_minutes, 0) AS buffer_minutes,
                  ARRAY(SELECT id FROM rooms WHERE site_id = $1
                        ORDER BY registered_at, id) AS room_ids,
                  ARRAY(SELECT staff_id FROM worked ORDER BY staff_id) AS staff_ids,
                  ARRAY(SELECT weekly::text FROM worked ORDER BY staff_id) AS weekly,
                  ARRAY(SELECT exceptions::text FROM worked ORDER BY staff_id) AS exceptions,
                  ARRAY(SELECT set_at FROM worked ORDER BY staff_id) AS set_at,
                  ARRAY(SELECT version FROM worked ORDER BY staff_id) AS versions,
                  c.closures::text AS closures
           FROM sites s LEFT JOIN site_booking_rules r ON r.site_id = s.id
           LEFT JOIN site_closures c ON c.site_id = s.id
           WHERE s.id = $1""",
        site_id,
        counselor_id,
    )
    if row is None:
        return None
    hours = [
        hours_from(
            {
                "staff_id": staff_id,
                "site_id": site_id,
                "weekly": weekly,
                "exceptions": exceptions,
                "set_at": set_at,
                "version": version,
            }
        )
        for staff_id, weekly, exceptions, set_at, version in zip(
            row["staff_ids"],
            row["weekly"],
            row["exceptions"],
            row["set_at"],
            row["versions"],
            strict=True,
        )
    ]
    return SiteCalendar(
        row["timezone"],
        row["buffer_minutes"],
        list(row["room_ids"]),
        hours,
        closures_from(row["closures"]),
    )
