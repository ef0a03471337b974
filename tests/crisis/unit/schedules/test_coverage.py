"""The look-ahead: hours in which a level resolves to nobody."""

from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

from crisis.domain.policy import PolicyLevel
from crisis.domain.schedules.coverage import empty_hours, staff_on_call
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.restrictions import Restriction
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import Schedule

MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
DAILY = Rotation(RotationKind.DAILY, time(0), date(2026, 1, 1))


def _schedule(*layers: Layer) -> Schedule:
    return Schedule(uuid4(), uuid4(), "Line", "UTC", layers)


def test_office_hours_only_leave_the_nights_and_the_weekend_empty() -> None:
    office = Restriction(frozenset({1, 2, 3, 4, 5}), time(9), time(17))
    schedule = _schedule(Layer(DAILY, (uuid4(),), (office,)))
    level = PolicyLevel((), timedelta(minutes=5), (schedule.schedule_id,))

    empty = empty_hours(level, [(schedule, [])], MONDAY, 7 * 24)

    assert len(empty) == 7 * 24 - 5 * 8
    assert MONDAY + timedelta(hours=9) not in empty
    assert MONDAY + timedelta(hours=17) in empty


def test_an_override_fills_a_gap_and_named_staff_leave_none() -> None:
    office = Restriction(frozenset({1, 2, 3, 4, 5}), time(9), time(17))
    schedule = _schedule(Layer(DAILY, (uuid4(),), (office,)))
    night = Override(uuid4(), uuid4(), MONDAY + timedelta(hours=17), MONDAY + timedelta(hours=33))
    level = PolicyLevel((), timedelta(minutes=5), (schedule.schedule_id,))

    monday_to_tuesday = empty_hours(level, [(schedule, [night])], MONDAY, 33)

    assert monday_to_tuesday == [MONDAY + timedelta(hours=h) for h in range(9)]
    named = PolicyLevel((uuid4(),), timedelta(minutes=5), (schedule.schedule_id,))
    assert empty_hours(named, [(schedule, [])], MONDAY, 24) == []


def test_a_missing_schedule_is_nobody_and_an_hour_partly_empty_counts() -> None:
    level = PolicyLevel((), timedelta(minutes=5), (uuid4(),))
    assert len(empty_hours(level, [], MONDAY, 24)) == 24
    half = Restriction(frozenset(range(1, 8)), time(0), time(0, 30))
    schedule = _schedule(Layer(DAILY, (uuid4(),), (half,)))
    assert len(empty_hours(level, [(schedule, [])], MONDAY, 24)) == 24


def test_staff_on_call_are_everyone_with_a_shift_in_the_window() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    schedule = _schedule(Layer(DAILY, (a, b)))
    extra = Override(uuid4(), c, MONDAY + timedelta(days=10), MONDAY + timedelta(days=11))

    assert staff_on_call([(schedule, [extra])], MONDAY, MONDAY + timedelta(days=2)) == {a, b}


def test_the_shifts_of_deactivated_staff_are_holes_not_cover() -> None:
    left, stayed = uuid4(), uuid4()
    schedule = _schedule(Layer(DAILY, (left, stayed)))  # left on Mondays, stayed on Tuesdays
    level = PolicyLevel((), timedelta(minutes=5), (schedule.schedule_id,))

    assert empty_hours(level, [(schedule, [])], MONDAY, 48) == []
    empty = empty_hours(level, [(schedule, [])], MONDAY, 48, absent={left})
    assert len(empty) == 24
    assert MONDAY + timedelta(hours=24) not in empty


def test_a_level_naming_only_deactivated_staff_is_not_always_covered() -> None:
    left = uuid4()
    level = PolicyLevel((left,), timedelta(minutes=5), ())

    assert empty_hours(level, [], MONDAY, 24) == []
    assert len(empty_hours(level, [], MONDAY, 24, absent={left})) == 24
