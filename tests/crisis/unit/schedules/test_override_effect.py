"""Overrides that change nothing somewhere are named, with why, and only those."""

from datetime import UTC, date, datetime, time
from uuid import UUID, uuid4

from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.oncall import on_call
from crisis.domain.schedules.override_effect import (
    MAX_WARNINGS,
    NoEffect,
    Why,
    override_warnings,
    where_ineffective,
)
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import Schedule

A, B, C, D = (UUID(int=i) for i in range(1, 5))
# Weekly, Monday 09:00 New York: A from 2026-03-02 14:00Z to 2026-03-09 13:00Z, then B.
SCHEDULE = Schedule(
    uuid4(),
    uuid4(),
    "Night line",
    "America/New_York",
    (Layer(Rotation(RotationKind.WEEKLY, time(9), date(2026, 2, 2), handoff_weekday=1), (A, B)),),
)
WEEK_START, WEEK_END = datetime(2026, 3, 2, 14, tzinfo=UTC), datetime(2026, 3, 9, 13, tzinfo=UTC)
WED_START, WED_END = datetime(2026, 3, 4, 5, tzinfo=UTC), datetime(2026, 3, 5, 5, tzinfo=UTC)
WED_NOON = datetime(2026, 3, 4, 17, tzinfo=UTC)


def _week(staff: UUID, replaces: UUID | None = A) -> Override:
    return Override(uuid4(), staff, WEEK_START, WEEK_END, replaces)


def _wednesday(staff: UUID, replaces: UUID | None = A) -> Override:
    return Override(uuid4(), staff, WED_START, WED_END, replaces)


def test_replacing_someone_already_stood_in_for_changes_nothing_and_says_who_stands_in() -> None:
    week, wednesday = _week(B), _wednesday(C)
    overrides = [week, wednesday]

    assert on_call(SCHEDULE, overrides, WED_NOON) == [B]
    assert where_ineffective(SCHEDULE, overrides, wednesday.override_id) == [
        NoEffect(WED_START, WED_END, Why.STOOD_IN, B, week.override_id)
    ]
    assert where_ineffective(SCHEDULE, overrides, week.override_id) == []
    assert override_warnings(SCHEDULE, overrides, wednesday.override_id) == [
        f"2026-03-04T05:00:00Z to 2026-03-05T05:00:00Z: no effect, {B} already stands in for"
        f" {A} (override {week.override_id}); to take that shift, replace {B}"
    ]


def test_in_the_other_order_the_week_is_the_one_without_effect_on_wednesday() -> None:
    wednesday, week = _wednesday(C), _week(B)
    overrides = [wednesday, week]

    assert on_call(SCHEDULE, overrides, WED_NOON) == [C]
    assert where_ineffective(SCHEDULE, overrides, week.override_id) == [
        NoEffect(WED_START, WED_END, Why.STOOD_IN, C, wednesday.override_id)
    ]
    assert where_ineffective(SCHEDULE, overrides, wednesday.override_id) == []


def test_replacing_the_stand_in_takes_the_shift_and_warns_of_nothing() -> None:
    week, wednesday = _week(B), _wednesday(C, replaces=B)
    overrides = [week, wednesday]

    assert on_call(SCHEDULE, overrides, WED_NOON) == [C]
    assert override_warnings(SCHEDULE, overrides, wednesday.override_id) == []


def test_replacing_someone_off_shift_throughout_is_named_once() -> None:
    off = Override(uuid4(), C, WEEK_END, datetime(2026, 3, 12, tzinfo=UTC), replaces=A)

    assert where_ineffective(SCHEDULE, [off], off.override_id) == [
        NoEffect(off.start, off.end, Why.NEVER_ON_CALL)
    ]
    [line] = override_warnings(SCHEDULE, [off], off.override_id)
    assert line.endswith(f"no effect, {A} is not on call at any time of it")


def test_replacing_someone_off_shift_for_part_of_it_is_what_a_replacement_means() -> None:
    # A's week and three days of B's: C covers A's shifts only, as documented.
    cover = Override(uuid4(), C, WEEK_START, datetime(2026, 3, 12, tzinfo=UTC), replaces=A)

    assert where_ineffective(SCHEDULE, [cover], cover.override_id) == []


def test_adding_someone_already_on_call_adds_nobody() -> None:
    extra = _wednesday(A, replaces=None)
    stand_in = _week(B)

    assert where_ineffective(SCHEDULE, [extra], extra.override_id) == [
        NoEffect(WED_START, WED_END, Why.ALREADY_ON_CALL)
    ]
    # Added where B stands in for A: A is not on call then, so A is added.
    assert where_ineffective(SCHEDULE, [stand_in, extra], extra.override_id) == []


def test_an_override_undone_by_later_ones_says_so() -> None:
    first, back = _wednesday(C), _wednesday(A, replaces=C)

    assert where_ineffective(SCHEDULE, [first, back], first.override_id) == [
        NoEffect(WED_START, WED_END, Why.UNDONE_LATER)
    ]


def test_only_the_stretches_without_effect_are_named_and_their_count_is_capped() -> None:
    # D replaces A for the week; B stood in for A on eleven separate hours before.
    hours = [
        Override(
            uuid4(),
            B,
            datetime(2026, 3, 3, h, tzinfo=UTC),
            datetime(2026, 3, 3, h, 30, tzinfo=UTC),
            A,
        )
        for h in range(0, 22, 2)
    ]
    week = _week(D)
    overrides = [*hours, week]

    gaps = where_ineffective(SCHEDULE, overrides, week.override_id)
    assert [(g.start, g.end, g.stand_in, g.via) for g in gaps] == [
        (h.start, h.end, B, h.override_id) for h in hours
    ]
    lines = override_warnings(SCHEDULE, overrides, week.override_id)
    assert len(lines) == MAX_WARNINGS + 1
    assert lines[-1] == f"and {len(hours) - MAX_WARNINGS} more such intervals"
    assert on_call(SCHEDULE, overrides, datetime(2026, 3, 3, 1, tzinfo=UTC)) == [D]
