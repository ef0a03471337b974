"""A schedule's shifts as an iCalendar feed (RFC 5545), built with `icalendar`.

Events name the staff member on call (booking's StaffRegistered `name`; a short id for one crisis
has no name for) and the layer, in the language `_` translates to; no contact details.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from uuid import UUID, uuid5

from icalendar import Calendar, Event

from crisis.domain.schedules.oncall import Shift


def calendar_feed(
    schedule_id: UUID,
    name: str,
    shifts: Sequence[Shift],
    generated_at: datetime,
    names: Mapping[str, str] | None = None,
    _: Callable[..., str] | None = None,
) -> bytes:
    """`names`: staff names by id; `_`: the translator (`page_i18n.translator`; English
    when None)."""
    _ = _ or _english
    names = names or {}
    calendar = Calendar()
    calendar.add("prodid", "-//counseling-center//crisis on-call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("On call: %(who)s", who=name))
    for shift in shifts:
        event = Event()
        # Stable per shift, so a calendar app updates rather than duplicates on refresh.
        event.add("uid", f"{uuid5(schedule_id, _key(shift))}@crisis")
        event.add("dtstamp", generated_at)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        who = names.get(str(shift.staff_id)) or _("staff %(id)s", id=str(shift.staff_id)[:8])
        event.add("summary", _("On call: %(who)s", who=who))
        if shift.layer is None:
            why = _("added by an override")
        elif shift.override_id is not None:
            why = _("layer %(layer)s (override)", layer=shift.layer)
        else:
            why = _("layer %(layer)s", layer=shift.layer)
        event.add("description", why)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _key(shift: Shift) -> str:
    return f"{shift.staff_id}:{shift.start.isoformat()}:{shift.layer}:{shift.override_id}"


def _english(msgid: str, **values: object) -> str:
    return msgid % values if values else msgid
