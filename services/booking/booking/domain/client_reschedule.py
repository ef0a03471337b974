"""Whether a client may move their own session from their reminder's link, and to which times.

A site allows it with its booking rule `client_reschedule` (off by default). The client may move
the session until the site's late-cancellation window begins (moving later is refused and the
page points to the front desk, as a late cancellation would cost a fee), to another free time of
the same counselor with the same length, starting within `client_reschedule_days` days from now
and itself outside the late window (a time the client could still move or cancel without fee).
Group seats and series occurrences are not moved by the client: the page says to call.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from booking.domain.appointment import Appointment
from booking.domain.manage import Manageable, manageable
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.scheduling.rules import BookingRules
from booking.domain.slots import is_late_cancellation


class NotMovable(StrEnum):
    OFF = "off"  # the site does not let clients move sessions
    GROUP = "group"  # a seat of a group session: call the site
    SERIES = "series"  # an occurrence of a series: call the site
    LATE = "late"  # inside the late-cancellation window: call the front desk
    CLOSED = "closed"  # cancelled, started, completed or missed


def why_not_movable(
    appointment: Appointment,
    site_rules: BookingRules | None,
    late_window: timedelta,
    now: datetime,
    *,
    in_series: bool,
) -> NotMovable | None:
    """None: the client may pick another time now."""
    if manageable(appointment, now) is not Manageable.OPEN:
        return NotMovable.CLOSED
    if site_rules is None or not site_rules.client_reschedule:
        return NotMovable.OFF
    if appointment.group_session_id is not None:
        return NotMovable.GROUP
    if in_series:
        return NotMovable.SERIES
    if is_late_cancellation(appointment.start, now, late_window):
        return NotMovable.LATE
    return None


def search_window(now: datetime, late_window: timedelta, days: int) -> tuple[datetime, datetime]:
    """The instants the new time may start in: not late (as `is_late_cancellation` decides),
    within `days` days."""
    return now + late_window, now + timedelta(days=days)


def offered_slots(
    appointment: Appointment,
    free: Iterable[FreeSlot],
    now: datetime,
    late_window: timedelta,
    days: int,
) -> list[FreeSlot]:
    """The free slots (from the availability search: hours, exceptions, closures, buffer,
    holds and, in person, rooms) the page offers: the same counselor and length, not the
    current time, starting in the `search_window`, earliest first."""
    earliest, latest = search_window(now, late_window, days)
    length = appointment.end - appointment.start
    return sorted(
        (
            slot
            for slot in free
            if slot.counselor_id == appointment.counselor_id
            and slot.end - slot.start == length
            and slot.start != appointment.start
            and earliest <= slot.start <= latest
            and not is_late_cancellation(slot.start, now, late_window)
        ),
        key=lambda slot: slot.start,
    )
