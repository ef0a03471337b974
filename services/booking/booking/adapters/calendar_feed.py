"""A counselor's sessions as an iCalendar feed (RFC 5545), built with `icalendar`.

No client name or detail: a session says its modality, room and appointment id. Each event's
`UID` is the appointment's, so a calendar app updates it in place; `SEQUENCE` counts its
reschedules (plus one once cancelled), so the app knows the newer version wins; a cancelled
session stays in the feed as `STATUS:CANCELLED` for a while, so apps that saw it remove it.
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from icalendar import Calendar, Event

from booking.adapters.calendar_store import CalendarSession
from booking.domain.appointment import AppointmentStatus


def calendar_feed(
    staff_id: UUID, sessions: Sequence[CalendarSession], generated_at: datetime
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//counseling-center//booking sessions//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Sessions: staff {staff_id}")
    for session in sessions:
        calendar.add_component(_event(session, generated_at))
    data: bytes = calendar.to_ical()
    return data


def _event(session: CalendarSession, generated_at: datetime) -> Event:
    a = session.appointment
    cancelled = a.status is AppointmentStatus.CANCELLED
    event = Event()
    event.add("uid", f"{a.id}@booking")
    event.add("sequence", session.reschedules + (1 if cancelled else 0))
    event.add("dtstamp", generated_at)
    event.add("dtstart", a.start)
    event.add("dtend", a.end)
    event.add("summary", f"Session ({a.modality.value.replace('_', ' ')})")
    event.add("description", f"Appointment {a.id}; status {a.status.value}")
    if session.room_name is not None:
        event.add("location", session.room_name)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event
