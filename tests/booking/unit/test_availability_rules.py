"""Free slots: working periods cut into slots, minus claims and the buffer; hours by date."""

from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from booking.domain.errors import InvalidCommand
from booking.domain.scheduling.availability import BusyTimes, free_slots
from booking.domain.scheduling.hours import (
    DateException,
    SetWorkingHours,
    WeeklyPeriod,
    WorkingHours,
    set_hours,
)
from tests.booking.unit.builders import NOW, a_site, a_staff_member

DAY = datetime(2030, 6, 3, tzinfo=UTC)  # a Monday
COUNSELOR = uuid4()


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def starts(busy: list[tuple[datetime, datetime]], buffer: int = 0) -> list[str]:
    found = free_slots(
        COUNSELOR,
        [(at(9), at(12))],
        BusyTimes(busy),
        duration=timedelta(minutes=50),
        buffer=timedelta(minutes=buffer),
        not_before=DAY,
    )
    return [s.start.strftime("%H:%M") for s in found]


def test_a_free_morning_is_cut_into_slots_from_its_start() -> None:
    assert starts([]) == ["09:00", "09:50", "10:40"]


def test_back_to_back_with_a_session_is_free_without_a_buffer_and_not_with_one() -> None:
    session = [(at(9, 50), at(10, 40))]

    assert starts(session) == ["09:00", "10:40"]
    assert starts(session, buffer=10) == []


def test_a_long_claim_earlier_in_the_list_still_blocks_a_later_slot() -> None:
    # The 08:00-11:00 claim starts first, the short one later: both block 10:00-10:30.
    busy = BusyTimes([(at(8), at(11)), (at(9), at(9, 10))])

    assert busy.is_free(at(10), at(10, 30)) is False
    assert busy.is_free(at(11), at(11, 30)) is True
    assert starts([(at(8), at(11)), (at(9), at(9, 10))]) == []


def test_a_dated_exception_replaces_the_weekday_or_takes_the_day_off() -> None:
    hours = WorkingHours(
        COUNSELOR,
        uuid4(),
        (WeeklyPeriod(1, time(9), time(17)),),
        (
            DateException(date(2030, 6, 3), False, time(13), time(15)),
            DateException(date(2030, 6, 10), True),
        ),
        NOW,
        1,
    )
    paris = ZoneInfo("Europe/Paris")
    week = hours.intervals(paris, DAY, DAY + timedelta(days=15))

    local = [
        (a.astimezone(paris).strftime("%m-%d %H:%M"), b.astimezone(paris).hour) for a, b in week
    ]
    assert local == [("06-03 13:00", 15), ("06-17 09:00", 17)]


def test_a_day_of_two_periods_gives_both_in_order_however_they_were_listed() -> None:
    # A lunch break: the afternoon given first. Periods must compare (this raised TypeError,
    # a 500 from GET /availability for any counselor working two periods a day).
    hours = WorkingHours(
        COUNSELOR,
        uuid4(),
        (WeeklyPeriod(1, time(13), time(17)), WeeklyPeriod(1, time(9), time(12))),
        (
            DateException(date(2030, 6, 10), False, time(14), time(16)),
            DateException(date(2030, 6, 10), False, time(8), time(10)),
        ),
        NOW,
        1,
    )

    utc = ZoneInfo("UTC")
    first = hours.intervals(utc, DAY, DAY + timedelta(days=1))
    second = hours.intervals(utc, DAY + timedelta(days=7), DAY + timedelta(days=8))

    assert [(a.hour, b.hour) for a, b in first] == [(9, 12), (13, 17)]
    assert [(a.hour, b.hour) for a, b in second] == [(8, 10), (14, 16)]


@pytest.mark.parametrize(
    ("weekly", "exceptions", "field"),
    [
        ((WeeklyPeriod(8, time(9), time(10)),), (), "weekly"),
        ((WeeklyPeriod(1, time(10), time(9)),), (), "weekly"),
        ((WeeklyPeriod(1, time(9), time(12)), WeeklyPeriod(1, time(11), time(13))), (), "weekly"),
        ((), (DateException(date(2030, 6, 3), True, time(9), time(10)),), "exceptions"),
        ((), (DateException(date(2030, 6, 3), False),), "exceptions"),
    ],
)
def test_hours_that_do_not_make_sense_are_refused_naming_the_field(
    weekly: tuple[WeeklyPeriod, ...], exceptions: tuple[DateException, ...], field: str
) -> None:
    with pytest.raises(InvalidCommand) as refused:
        set_hours(a_staff_member(a_site()), SetWorkingHours(weekly, exceptions), NOW)

    assert list(refused.value.errors) == [field]
