"""Half-open time slots, session lengths and the late-cancellation window."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.slots import (
    TimeSlot,
    add_months,
    is_late_cancellation,
    session_length_problem,
    start_problem,
)

BASE = datetime(2030, 1, 1, tzinfo=UTC)
minutes_from_base = st.integers(min_value=0, max_value=24 * 60)
lengths = st.integers(min_value=15, max_value=240)


def slot(offset: int, length: int) -> TimeSlot:
    return TimeSlot.of(BASE + timedelta(minutes=offset), length)


@given(minutes_from_base, lengths, lengths)
def test_back_to_back_slots_never_overlap(offset: int, first: int, second: int) -> None:
    earlier = slot(offset, first)
    later = slot(offset + first, second)

    assert not earlier.overlaps(later)
    assert not later.overlaps(earlier)


@given(minutes_from_base, lengths, minutes_from_base, lengths)
def test_slots_overlap_exactly_when_they_share_a_minute(
    a_offset: int, a_length: int, b_offset: int, b_length: int
) -> None:
    a, b = slot(a_offset, a_length), slot(b_offset, b_length)
    a_minutes = set(range(a_offset, a_offset + a_length))
    b_minutes = set(range(b_offset, b_offset + b_length))

    assert a.overlaps(b) == bool(a_minutes & b_minutes) == b.overlaps(a)


@given(minutes_from_base, lengths)
def test_a_slot_overlaps_itself_and_lasts_its_minutes(offset: int, length: int) -> None:
    s = slot(offset, length)

    assert s.overlaps(s)
    assert s.minutes == length


def test_a_session_lasts_its_minutes_across_a_dst_change() -> None:
    # Paris moves its clocks forward at 02:00 on 2030-03-31.
    start = datetime(2030, 3, 31, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))

    s = TimeSlot.of(start, 60)

    assert s.end - s.start == timedelta(minutes=60)
    assert s.end.astimezone(ZoneInfo("Europe/Paris")).hour == 3
    assert s.start.tzinfo == UTC


def test_a_slot_needs_aware_instants_and_a_positive_length() -> None:
    with pytest.raises(ValueError, match="aware"):
        TimeSlot(datetime(2030, 1, 1), datetime(2030, 1, 2))
    with pytest.raises(ValueError, match="ends after"):
        TimeSlot(BASE, BASE)


@pytest.mark.parametrize(("minutes", "ok"), [(14, False), (15, True), (240, True), (241, False)])
def test_sessions_last_between_15_and_240_minutes(minutes: int, ok: bool) -> None:
    assert (session_length_problem(minutes) is None) == ok


@given(
    st.integers(min_value=-48 * 3600, max_value=96 * 3600),
    st.integers(min_value=0, max_value=72 * 3600),
)
def test_a_cancellation_is_late_when_less_than_the_window_is_left(
    seconds_left: int, window_seconds: int
) -> None:
    start = BASE + timedelta(seconds=seconds_left)
    window = timedelta(seconds=window_seconds)

    late = is_late_cancellation(start, BASE, window)

    assert late == (seconds_left < window_seconds)


def test_a_cancellation_exactly_a_window_ahead_is_in_time() -> None:
    assert not is_late_cancellation(BASE + timedelta(hours=24), BASE, timedelta(hours=24))
    assert is_late_cancellation(
        BASE + timedelta(hours=24), BASE + timedelta(seconds=1), timedelta(hours=24)
    )


NOW = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "horizon", "ok"),
    [
        (NOW - timedelta(minutes=15, seconds=1), 18, False),  # past the grace
        (NOW - timedelta(minutes=15), 18, True),
        (NOW, 18, True),
        (datetime(2031, 12, 1, 9, 0, tzinfo=UTC), 18, True),  # exactly 18 months ahead
        (datetime(2031, 12, 1, 9, 1, tzinfo=UTC), 18, False),
        (datetime(2030, 12, 1, 9, 1, tzinfo=UTC), 6, False),  # the site's own horizon
        (datetime(2045, 6, 1, tzinfo=UTC), 18, False),  # 15 years ahead: a typo
        (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), 120, False),
    ],
)
def test_sessions_start_between_a_short_grace_ago_and_the_sites_horizon(
    start: datetime, horizon: int, ok: bool
) -> None:
    assert (start_problem(start, NOW, horizon) is None) == ok


@pytest.mark.parametrize(
    ("instant", "months", "expected"),
    [
        (datetime(2030, 1, 31, tzinfo=UTC), 1, datetime(2030, 2, 28, tzinfo=UTC)),
        (datetime(2031, 12, 15, tzinfo=UTC), 1, datetime(2032, 1, 15, tzinfo=UTC)),
        (datetime(2030, 6, 1, tzinfo=UTC), 18, datetime(2031, 12, 1, tzinfo=UTC)),
        (datetime(2031, 8, 31, tzinfo=UTC), 6, datetime(2032, 2, 29, tzinfo=UTC)),
    ],
)
def test_adding_months_keeps_the_day_or_the_months_last(
    instant: datetime, months: int, expected: datetime
) -> None:
    assert add_months(instant, months) == expected
