"""Moving one's own session from the reminder's link, decided purely: when the page may offer
it, and which free times it lists."""

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from booking.domain.appointment import AppointmentStatus
from booking.domain.client_reschedule import NotMovable, offered_slots, why_not_movable
from booking.domain.errors import InvalidCommand
from booking.domain.scheduling import rules
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.scheduling.rules import BookingRules, SetBookingRules
from tests.booking.unit.builders import NOW, a_site, an_appointment

WINDOW = timedelta(hours=24)
ALLOWED = BookingRules(uuid4(), 0, None, NOW, 1, client_reschedule=True, client_reschedule_days=7)


def test_off_unless_the_site_allows_it() -> None:
    booked = an_appointment(start=NOW + timedelta(days=3))
    off = replace(ALLOWED, client_reschedule=False)

    assert why_not_movable(booked, None, WINDOW, NOW, in_series=False) is NotMovable.OFF
    assert why_not_movable(booked, off, WINDOW, NOW, in_series=False) is NotMovable.OFF
    assert why_not_movable(booked, ALLOWED, WINDOW, NOW, in_series=False) is None


def test_inside_the_late_window_it_is_refused() -> None:
    booked = an_appointment(start=NOW + WINDOW - timedelta(minutes=1))
    just_before = an_appointment(start=NOW + WINDOW)

    assert why_not_movable(booked, ALLOWED, WINDOW, NOW, in_series=False) is NotMovable.LATE
    assert why_not_movable(just_before, ALLOWED, WINDOW, NOW, in_series=False) is None


def test_group_seats_series_and_closed_sessions_are_not_offered() -> None:
    booked = an_appointment(start=NOW + timedelta(days=3))
    seat = replace(booked, group_session_id=uuid4())
    cancelled = replace(booked, status=AppointmentStatus.CANCELLED)

    assert why_not_movable(seat, ALLOWED, WINDOW, NOW, in_series=False) is NotMovable.GROUP
    assert why_not_movable(booked, ALLOWED, WINDOW, NOW, in_series=True) is NotMovable.SERIES
    assert why_not_movable(cancelled, ALLOWED, WINDOW, NOW, in_series=False) is NotMovable.CLOSED


def test_only_the_same_counselor_and_length_within_the_days_and_outside_the_window() -> None:
    booked = an_appointment(start=NOW + timedelta(days=3), minutes=50)
    mine = booked.counselor_id

    def slot(days: float, minutes: int = 50, counselor: object = None) -> FreeSlot:
        start = NOW + timedelta(days=days)
        who = mine if counselor is None else uuid4()
        return FreeSlot(who, start, start + timedelta(minutes=minutes))

    free = [
        slot(5),
        slot(2),
        slot(0.5),  # inside the late window
        slot(3),  # the current time
        slot(4, minutes=80),  # another length
        slot(4, counselor="other"),
        slot(7),  # the last day offered
        slot(7.01),  # beyond the days
    ]

    offered = offered_slots(booked, free, NOW, WINDOW, 7)

    assert [s.start - NOW for s in offered] == [
        timedelta(days=2),
        timedelta(days=5),
        timedelta(days=7),
    ]


@pytest.mark.parametrize("days", [0, 61])
def test_the_days_are_between_1_and_60(days: int) -> None:
    command = SetBookingRules(client_reschedule=True, client_reschedule_days=days)
    with pytest.raises(InvalidCommand) as refused:
        rules.set_rules(a_site(), command, NOW)
    assert set(refused.value.errors) == {"client_reschedule_days"}


def test_rules_set_before_the_extension_keep_it_off() -> None:
    [event] = rules.set_rules(a_site(), SetBookingRules(), NOW)
    assert rules.evolve(None, event).client_reschedule is False
