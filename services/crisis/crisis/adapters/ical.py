"""A schedule's shifts as an iCalendar feed (RFC 5545), built with `icalendar`.

Events carry staff ids and layer numbers only: crisis keeps no names or contact details.
"""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid5

from icalendar import Calendar, Event

from crisis.domain.schedules.oncall import Shift


def calendar_feed(
    schedule_id: UUID, name: str, shifts: Sequence[Shift], generated_at: datetime
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//counseling-center//crisis on-call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"On call: {name}")
    for shift in shifts:
        event = Event()
        # Stable per shift, so a calendar app updates rather than duplicates on refresh.
        event.add("uid", f"{uuid5(schedule_id, _key(shift))}@crisis")
        event.add("dtstamp", generated_at)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: staff {shift.staff_id}")
        why = f"layer {shift.layer}" if shift.layer is not None else "added by an override"
        if shift.override_id is not None and shift.layer is not None:
            why += " (override)"
        event.add("description", why)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _key(shift: Shift) -> str:
    return f"{shift.staff_id}:{shift.start.isoformat()}:{shift.layer}:{shift.override_id}"
