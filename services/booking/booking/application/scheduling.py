"""Working hours, site booking rules, holds and free slots (contract v2: Integrations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from booking.adapters import claims, projections, scheduling_store
from booking.application.closures import check_open
from booking.application.holding import save_hold
from booking.application.ports import SiteAccess, require_site
from booking.application.recording import record, stream_id
from booking.domain import appointment
from booking.domain.errors import UnknownAggregate
from booking.domain.scheduling import holds, hours, rules
from booking.domain.scheduling.availability import BusyTimes, FreeSlot, free_slots
from booking.domain.scheduling.closures import closed_day
from booking.domain.scheduling.holds import Hold
from booking.domain.site import DEFAULT_BOOKING_HORIZON_MONTHS
from booking.domain.slots import TimeSlot
from counseling_shared.codes import Modality
from counseling_shared.events import IntegrationEvent
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

MAX_AVAILABILITY_DAYS = 31


def _no_public(state: object, event: object) -> list[IntegrationEvent]:
    return []


async def set_working_hours(
    uow: UnitOfWork, staff_id: UUID, command: hours.SetWorkingHours, access: SiteAccess
) -> hours.WorkingHours:
    counselor = await projections.load_staff_member(uow.conn, staff_id)
    if counselor is None:
        raise UnknownAggregate("staff member", staff_id)
    require_site(access, counselor.site_id)
    current = await scheduling_store.load_hours(uow.conn, staff_id)
    events = hours.set_hours(counselor, command, uow.now())
    state = await record(
        uow,
        stream_id("hours", staff_id),
        current,
        current.version if current else 0,
        events,
        hours.evolve,
        _no_public,
        staff_id,
    )
    await scheduling_store.save_hours(uow.conn, state)
    return state


async def set_booking_rules(
    uow: UnitOfWork, site_id: UUID, command: rules.SetBookingRules, access: SiteAccess
) -> rules.BookingRules:
    require_site(access, site_id)
    at_site = await projections.load_site(uow.conn, site_id)
    if at_site is None:
        raise UnknownAggregate("site", site_id)
    current = await scheduling_store.load_rules(uow.conn, site_id)
    events = rules.set_rules(at_site, command, uow.now())
    state = await record(
        uow,
        stream_id("siterules", site_id),
        current,
        current.version if current else 0,
        events,
        rules.evolve,
        _no_public,
        site_id,
    )
    await scheduling_store.save_rules(uow.conn, state)
    return state


# --- holds -------------------------------------------------------------------------------


async def place_hold(
    uow: UnitOfWork,
    command: appointment.BookAppointment,
    client_id: UUID | None,
    ttl: timedelta,
    access: SiteAccess,
) -> Hold:
    """Hold a slot for `ttl`, checked like a booking: who, where, when, and free."""
    counselor = await projections.load_staff_member(uow.conn, command.counselor_id)
    if counselor is not None:
        require_site(access, counselor.site_id)
    the_client = await projections.load_client(uow.conn, client_id) if client_id else None
    the_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    at_site = await projections.load_site(uow.conn, counselor.site_id) if counselor else None
    now = uow.now()
    appointment.check_booking(
        command,
        counselor,
        the_client,
        the_room,
        now,
        at_site.booking_horizon_months if at_site else DEFAULT_BOOKING_HORIZON_MONTHS,
        client_named=client_id is not None,
    )
    assert counselor is not None
    assert at_site is not None
    slot = TimeSlot.of(command.start, command.duration_minutes)
    # Holds have no override: an admin books a closed day directly (`allow_closed_site`).
    await check_open(uow.conn, at_site.id, slot.start, slot.end)
    events = holds.place(
        uuid4(),
        counselor.site_id,
        counselor.id,
        client_id,
        command.room_id,
        command.modality,
        slot,
        now,
        now + ttl,
    )
    return await save_hold(uow, None, events)


# --- availability --------------------------------------------------------------------------


async def availability(
    conn: Connection,
    site_id: UUID,
    counselor_id: UUID | None,
    start: datetime,
    end: datetime,
    duration: timedelta,
    modality: Modality,
    now: datetime,
) -> list[FreeSlot]:
    """Free slots at the site in `[start, end)`, ordered by start then counselor."""
    calendar = await scheduling_store.site_calendar(conn, site_id, counselor_id)
    if calendar is None:
        raise UnknownAggregate("site", site_id)
    buffer = timedelta(minutes=calendar.buffer_minutes)
    zone = ZoneInfo(calendar.timezone)
    taken = await claims.in_window(conn, site_id, start - buffer, end + buffer)
    by_counselor: dict[UUID, list[tuple[datetime, datetime]]] = {}
    by_room: dict[UUID, list[tuple[datetime, datetime]]] = {}
    for counselor, room, begins, ends in taken:
        by_counselor.setdefault(counselor, []).append((begins, ends))
        if room is not None:
            by_room.setdefault(room, []).append((begins, ends))
    rooms = None
    if modality is Modality.IN_PERSON:
        rooms = {room: BusyTimes(by_room.get(room, ())) for room in calendar.room_ids}
    found: list[FreeSlot] = []
    for worked in calendar.hours:
        found += free_slots(
            worked.staff_id,
            worked.intervals(zone, start, end),
            BusyTimes(by_counselor.get(worked.staff_id, ())),
            duration=duration,
            buffer=buffer,
            not_before=max(start, now),
            rooms=rooms,
        )
    if calendar.closures:  # nothing is offered on a day the site is closed
        found = [s for s in found if not closed_day(calendar.closures, zone, s.start, s.end)]
    found.sort(key=lambda slot: (slot.start, slot.counselor_id))
    return found
