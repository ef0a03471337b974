"""Handoffs at the local wall-clock time, whatever DST does."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.wall_clock import local

ZONES = ["America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Seoul"]
NEW_YORK = ZoneInfo("America/New_York")


def test_a_monday_0900_new_york_handoff_is_1300z_after_spring_forward_and_1400z_before() -> None:
    weekly = Rotation(RotationKind.WEEKLY, time(9, 0), date(2026, 2, 2), handoff_weekday=1)
    handoffs = [weekly.handoff_at(n, NEW_YORK) for n in range(6)]

    assert datetime(2026, 3, 2, 14, 0, tzinfo=UTC) in handoffs
    assert datetime(2026, 3, 9, 13, 0, tzinfo=UTC) in handoffs
    assert datetime(2026, 3, 9, 14, 0, tzinfo=UTC) not in handoffs


def test_a_weekly_rotation_starts_on_the_first_handoff_weekday_on_or_after_start_on() -> None:
    # 2026-03-04 is a Wednesday; the first Monday on or after it is 2026-03-09.
    weekly = Rotation(RotationKind.WEEKLY, time(9, 0), date(2026, 3, 4), handoff_weekday=1)
    assert weekly.handoff_at(0, NEW_YORK) == datetime(2026, 3, 9, 13, tzinfo=UTC)
    assert weekly.turn_at(datetime(2026, 3, 9, 12, 59, tzinfo=UTC), NEW_YORK) is None
    assert weekly.turn_at(datetime(2026, 3, 9, 13, 0, tzinfo=UTC), NEW_YORK) == 0


def test_a_twelve_hour_rotation_keeps_its_clock_times_across_dst() -> None:
    halves = Rotation(RotationKind.CUSTOM, time(8, 0), date(2026, 3, 7), every=timedelta(hours=12))
    walls = [local(halves.handoff_at(n, NEW_YORK), NEW_YORK) for n in range(6)]
    assert [w.time() for w in walls] == [time(8), time(20)] * 3
    # The night of the change (08 March, 02:00 → 03:00) is an hour shorter.
    night = halves.handoff_at(1, NEW_YORK), halves.handoff_at(2, NEW_YORK)
    assert night[1] - night[0] == timedelta(hours=11)


rotations = st.builds(
    Rotation,
    kind=st.sampled_from(list(RotationKind)),
    handoff=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    start_on=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1)),
    every=st.integers(min_value=60, max_value=10 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    handoff_weekday=st.integers(min_value=1, max_value=7),
)


@settings(max_examples=200)
@given(rotation=rotations, zone_name=st.sampled_from(ZONES), turns=st.integers(0, 400))
def test_every_handoff_is_at_its_wall_clock_time_or_just_after_a_gap(
    rotation: Rotation, zone_name: str, turns: int
) -> None:
    zone = ZoneInfo(zone_name)
    wall = rotation.first_handoff + turns * rotation.turn_length
    instant = rotation.handoff_at(turns, zone)
    seen = local(instant, zone)
    if seen != wall:  # only when the wall time does not exist that day
        assert seen > wall
        assert local(instant - timedelta(seconds=1), zone) < wall
    if rotation.kind is RotationKind.WEEKLY:
        assert wall.isoweekday() == rotation.handoff_weekday


@settings(max_examples=200)
@given(
    rotation=rotations,
    zone_name=st.sampled_from(ZONES),
    offset=st.integers(min_value=-3 * 24 * 3600, max_value=400 * 24 * 3600),
)
def test_the_turn_at_an_instant_is_the_last_handoff_at_or_before_it(
    rotation: Rotation, zone_name: str, offset: int
) -> None:
    zone = ZoneInfo(zone_name)
    instant = rotation.handoff_at(0, zone) + timedelta(seconds=offset)
    turn = rotation.turn_at(instant, zone)
    if turn is None:
        assert instant < rotation.handoff_at(0, zone)
    else:
        assert rotation.handoff_at(turn, zone) <= instant < rotation.handoff_at(turn + 1, zone)
