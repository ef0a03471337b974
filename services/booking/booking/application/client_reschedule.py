"""The client moves their own session from their reminder's link: the existing reschedule,
guarded so a double submit (or a retry after a lost race) moves it once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters import projections
from booking.application import handlers, scheduling
from booking.application.handlers import SlotFreed
from booking.application.ports import EverySite
from booking.domain import appointment
from booking.domain.appointment import Appointment
from booking.domain.client_reschedule import offered_slots, search_window
from booking.domain.errors import NotAllowedNow, UnknownAggregate
from booking.domain.scheduling.availability import FreeSlot
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def offered(
    conn: Connection, current: Appointment, now: datetime, late_window: timedelta, days: int
) -> list[FreeSlot]:
    """The free times of the same counselor, modality and length the page may offer (the
    availability search: hours, exceptions, closures, buffer, holds, rooms in person)."""
    earliest, latest = search_window(now, late_window, days)
    length = current.end - current.start
    # From a day before: the search cuts slots from each working period's start, and a
    # period clipped at `earliest` would be cut at odd minutes.
    free = await scheduling.availability(
        conn,
        current.site_id,
        current.counselor_id,
        earliest - timedelta(days=1),
        latest + length,  # a slot starting on the last instant fits
        length,
        current.modality,
        now,
    )
    return offered_slots(current, free, now, late_window, days)


async def move_by_client(
    uow: UnitOfWork,
    appointment_id: UUID,
    shown_start: datetime,
    slot: FreeSlot,
    on_freed: SlotFreed,
) -> Appointment:
    """Move the session the link was minted for (`shown_start`) to `slot`. Already there (the
    same choice sent twice): nothing more is recorded. Moved elsewhere meanwhile: refused."""
    current = await projections.load_appointment(uow.conn, appointment_id)
    if current is None:
        raise UnknownAggregate("appointment", appointment_id)
    if current.start != shown_start:
        if current.start == slot.start:
            return current
        raise NotAllowedNow("the appointment moved since the link was sent")
    command = appointment.RescheduleAppointment(start=slot.start, room_id=slot.room_id)
    return await handlers.reschedule_appointment(
        uow, appointment_id, command, EverySite(), on_freed
    )
