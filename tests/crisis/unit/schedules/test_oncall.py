"""Who is on call, and shifts: the two answers agree and tile the interval."""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.oncall import Shift, on_call, shifts
from crisis.domain.schedules.overrides import InvalidOverride, Override, build_override
from crisis.domain.schedules.restrictions import Restriction
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import Schedule

ZONES = ["America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Seoul"]
STAFF = [UUID(int=i) for i in range(1, 6)]


def _schedule(*layers: Layer, timezone: str = "America/New_York") -> Schedule:
    return Schedule(uuid4(), uuid4(), "Night line", timezone, layers)


def _weekly(*participants: UUID, start_on: date = date(2026, 2, 2)) -> Layer:
    return Layer(Rotation(RotationKind.WEEKLY, time(9), start_on, handoff_weekday=1), participants)


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_the_weekly_handoff_follows_new_york_wall_clock_across_spring_forward() -> None:
    a, b = STAFF[:2]
    schedule = _schedule(_weekly(a, b))

    assert on_call(schedule, [], _at(2026, 3, 2, 13, 59)) == [b]
    assert on_call(schedule, [], _at(2026, 3, 2, 14, 0)) == [a]
    assert on_call(schedule, [], _at(2026, 3, 9, 12, 59)) == [a]
    assert on_call(schedule, [], _at(2026, 3, 9, 13, 0)) == [b]
    handoffs = [s.start for s in shifts(schedule, [], _at(2026, 3, 1), _at(2026, 3, 15))]
    assert handoffs == [_at(2026, 3, 1), _at(2026, 3, 2, 14), _at(2026, 3, 9, 13)]


def test_a_later_layer_wins_wherever_it_has_someone() -> None:
    a, b = STAFF[:2]
    weekends = Layer(
        Rotation(RotationKind.DAILY, time(0), date(2026, 1, 1)),
        (b,),
        (Restriction(frozenset({6, 7}), time(0), time(0)),),
    )
    schedule = _schedule(_weekly(a), weekends)

    assert on_call(schedule, [], _at(2026, 3, 6, 16)) == [a]  # a Friday
    assert on_call(schedule, [], _at(2026, 3, 7, 16)) == [b]  # a Saturday
    found = shifts(schedule, [], _at(2026, 3, 6, 12), _at(2026, 3, 9, 12))
    assert [(s.staff_id, s.layer) for s in found] == [(a, 1), (b, 2), (a, 1)]
    assert found[1].start == _at(2026, 3, 7, 5)
    assert found[1].end == _at(2026, 3, 9, 4)


def test_a_replace_override_puts_the_replacement_in_the_replaced_persons_place() -> None:
    a, b, c = STAFF[:3]
    schedule = _schedule(_weekly(a, b))
    cover = Override(uuid4(), c, _at(2026, 3, 3), _at(2026, 3, 4), replaces=a)

    assert on_call(schedule, [cover], _at(2026, 3, 3, 12)) == [c]
    assert on_call(schedule, [cover], _at(2026, 3, 4, 12)) == [a]
    [shift] = [s for s in shifts(schedule, [cover], _at(2026, 3, 3), _at(2026, 3, 4)) if s]
    assert shift == Shift(c, _at(2026, 3, 3), _at(2026, 3, 4), 1, cover.override_id)


def test_a_replace_override_does_nothing_while_the_replaced_person_is_off() -> None:
    a, b, c = STAFF[:3]
    schedule = _schedule(_weekly(a, b))
    cover = Override(uuid4(), c, _at(2026, 3, 10), _at(2026, 3, 11), replaces=a)  # b's week

    assert on_call(schedule, [cover], _at(2026, 3, 10, 12)) == [b]


def test_an_add_override_adds_someone_beside_the_layers_person() -> None:
    a, c = STAFF[0], STAFF[2]
    schedule = _schedule(_weekly(a))
    extra = Override(uuid4(), c, _at(2026, 3, 3), _at(2026, 3, 4))

    assert on_call(schedule, [extra], _at(2026, 3, 3, 12)) == [a, c]
    found = shifts(schedule, [extra], _at(2026, 3, 3), _at(2026, 3, 4))
    assert {(s.staff_id, s.layer, s.override_id) for s in found} == {
        (a, 1, None),
        (c, None, extra.override_id),
    }


def test_before_its_first_handoff_a_schedule_has_nobody() -> None:
    schedule = _schedule(_weekly(STAFF[0], start_on=date(2026, 6, 1)))
    assert on_call(schedule, [], _at(2026, 5, 1)) == []
    assert shifts(schedule, [], _at(2026, 5, 1), _at(2026, 5, 2)) == []


def test_overrides_are_checked() -> None:
    a, b = STAFF[:2]
    with pytest.raises(InvalidOverride, match="after start"):
        build_override(uuid4(), a, _at(2026, 3, 2), _at(2026, 3, 1), None)
    with pytest.raises(InvalidOverride, match="themselves"):
        build_override(uuid4(), a, _at(2026, 3, 1), _at(2026, 3, 2), a)
    with pytest.raises(InvalidOverride, match="P90D"):
        build_override(uuid4(), a, _at(2026, 3, 1), _at(2026, 7, 1), b)


# --- properties ------------------------------------------------------------------------------

clock_times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
rotations = st.builds(
    Rotation,
    kind=st.sampled_from(list(RotationKind)),
    handoff=clock_times,
    start_on=st.dates(min_value=date(2025, 11, 1), max_value=date(2025, 12, 1)),
    every=st.sampled_from([timedelta(hours=h) for h in (1, 5, 8, 12, 24, 36, 72, 168)]),
    handoff_weekday=st.integers(min_value=1, max_value=7),
)
restrictions = st.builds(
    Restriction,
    weekdays=st.frozensets(st.integers(1, 7), min_size=1),
    start=clock_times,
    end=clock_times,
).filter(lambda r: r.start != r.end)
unrestricted = st.builds(
    Layer,
    rotation=rotations,
    participants=st.lists(st.sampled_from(STAFF), min_size=1, max_size=4).map(tuple),
)
any_layer = st.builds(
    Layer,
    rotation=rotations,
    participants=st.lists(st.sampled_from(STAFF), min_size=1, max_size=4).map(tuple),
    restrictions=st.lists(restrictions, max_size=2).map(tuple),
)
# Intervals around DST changes of 2026 in every zone.
interval_starts = st.datetimes(
    min_value=datetime(2026, 1, 2), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(second=0, microsecond=0))
lengths = st.integers(min_value=1, max_value=21 * 24).map(lambda h: timedelta(hours=h))


def _overrides(start: datetime) -> st.SearchStrategy[list[Override]]:
    one = st.builds(
        lambda staff, replaces, begin, hours: Override(
            uuid4(),
            staff,
            start + timedelta(hours=begin),
            start + timedelta(hours=begin + hours),
            replaces,
        ),
        st.sampled_from(STAFF),
        st.one_of(st.none(), st.sampled_from(STAFF)),
        st.integers(-24, 24 * 14),
        st.integers(1, 24 * 3),
    )
    return st.lists(one, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    layers=st.lists(unrestricted, min_size=1, max_size=3),
    zone=st.sampled_from(ZONES),
    start=interval_starts,
    length=lengths,
)
def test_shifts_of_unrestricted_layers_tile_the_interval(
    layers: list[Layer], zone: str, start: datetime, length: timedelta
) -> None:
    """Every layer started before the interval: someone is on call at every instant of it."""
    schedule = _schedule(*layers, timezone=zone)
    end = start + length
    found = sorted(shifts(schedule, [], start, end), key=lambda s: s.start)

    assert found[0].start == start
    assert found[-1].end == end
    for before, after in itertools.pairwise(found):
        assert before.end == after.start  # no gap, no overlap
        assert (before.staff_id, before.layer) != (after.staff_id, after.layer)


@settings(max_examples=150, deadline=None)
@given(
    layers=st.lists(any_layer, min_size=1, max_size=3),
    zone=st.sampled_from(ZONES),
    start=interval_starts,
    length=lengths,
    data=st.data(),
)
def test_on_call_at_any_instant_is_whoever_has_a_shift_then(
    layers: list[Layer], zone: str, start: datetime, length: timedelta, data: st.DataObject
) -> None:
    schedule = _schedule(*layers, timezone=zone)
    overrides = data.draw(_overrides(start))
    end = start + length
    found = shifts(schedule, overrides, start, end)
    layer_shifts = sorted((s for s in found if s.layer is not None), key=lambda s: s.start)
    for before, after in itertools.pairwise(layer_shifts):
        assert before.end <= after.start  # layers never overlap: the later one wins
    for s in found:
        assert start <= s.start < s.end <= end
    instants = data.draw(
        st.lists(st.integers(0, int(length.total_seconds()) - 1), min_size=1, max_size=20)
    )
    edges = [s.start for s in found] + [s.end for s in found]
    for at in [start + timedelta(seconds=i) for i in instants] + [e for e in edges if e < end]:
        expected = {s.staff_id for s in found if s.start <= at < s.end}
        assert set(on_call(schedule, overrides, at)) == expected
