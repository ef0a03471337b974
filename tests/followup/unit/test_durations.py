from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup.domain.durations import (
    CalendarDuration,
    InvalidDuration,
    add_in_zone,
    add_months,
    parse_duration,
    series_time,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", CalendarDuration(days=7)),
        ("P1M", CalendarDuration(months=1)),
        ("PT24H", CalendarDuration(hours=24)),
        ("PT2S", CalendarDuration(seconds=2)),
        ("P2W", CalendarDuration(days=14)),
        ("P1Y2M3DT4H5M6S", CalendarDuration(1, 2, 3, 4, 5, 6)),
        ("p1dt1h", CalendarDuration(days=1, hours=1)),
    ],
)
def test_parses_iso_8601_durations_with_calendar_parts(
    text: str, expected: CalendarDuration
) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "7D", "P1DT", "P-1D", "P1.5D", "PT0.5S", "1 week"])
def test_rejects_what_is_not_a_whole_number_iso_duration(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


durations = st.builds(
    CalendarDuration,
    st.integers(0, 3),
    st.integers(0, 24),
    st.integers(0, 400),
    st.integers(0, 48),
    st.integers(0, 120),
    st.integers(0, 120),
)


@given(durations)
def test_formatted_duration_parses_back_to_itself(duration: CalendarDuration) -> None:
    assert parse_duration(duration.isoformat()) == duration


def test_month_end_is_clamped() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)


@given(st.dates(date(1990, 1, 1), date(2090, 12, 31)), st.integers(0, 60))
def test_adding_months_keeps_the_day_or_clamps_to_the_months_end(day: date, months: int) -> None:
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == day.day or (result.day < day.day and (result + timedelta(days=1)).day == 1)


def test_one_month_after_january_31_in_paris_is_february_28_at_the_same_wall_time() -> None:
    start = datetime(2025, 1, 31, 9, 30, tzinfo=PARIS)
    due = add_in_zone(start, parse_duration("P1M"), PARIS)
    assert due.tzinfo == UTC
    assert due.astimezone(PARIS).replace(tzinfo=None) == datetime(2025, 2, 28, 9, 30)


def test_a_day_across_spring_forward_keeps_9am_but_lasts_23_hours() -> None:
    start = datetime(2025, 3, 29, 9, 0, tzinfo=PARIS)  # DST starts 2025-03-30 in Paris
    due = add_in_zone(start, parse_duration("P1D"), PARIS)
    assert due.astimezone(PARIS).hour == 9
    assert due - start == timedelta(hours=23)


def test_24_hours_across_spring_forward_is_elapsed_time_not_wall_time() -> None:
    start = datetime(2025, 3, 8, 9, 0, tzinfo=NEW_YORK)  # DST starts 2025-03-09 in New York
    due = add_in_zone(start, parse_duration("PT24H"), NEW_YORK)
    assert due - start == timedelta(hours=24)
    assert due.astimezone(NEW_YORK).hour == 10


def test_a_wall_time_in_the_spring_forward_gap_moves_forward_by_the_gap() -> None:
    start = datetime(2025, 3, 29, 2, 30, tzinfo=PARIS)
    due = add_in_zone(start, parse_duration("P1D"), PARIS)
    assert due.astimezone(PARIS).replace(tzinfo=None) == datetime(2025, 3, 30, 3, 30)


def test_seconds_from_the_second_occurrence_of_an_ambiguous_hour_stay_exact() -> None:
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=PARIS)  # CET, after fall-back
    due = add_in_zone(second, parse_duration("PT2S"), PARIS)
    assert due - second == timedelta(seconds=2)


zones = st.sampled_from([PARIS, NEW_YORK])
instants = st.datetimes(datetime(2000, 1, 1), datetime(2060, 1, 1), timezones=st.just(UTC))
calendar_durations = st.builds(
    CalendarDuration, st.integers(0, 2), st.integers(0, 18), st.integers(0, 200)
).filter(lambda d: d.has_date_part)


def _exists(local_naive: datetime, zone: ZoneInfo) -> bool:
    aware = local_naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local_naive


@given(instants, calendar_durations, zones)
def test_calendar_durations_keep_the_local_wall_clock_time_across_dst(
    start: datetime, duration: CalendarDuration, zone: ZoneInfo
) -> None:
    due = add_in_zone(start, duration, zone)
    local_start, local_due = start.astimezone(zone), due.astimezone(zone)
    wanted = datetime.combine(local_due.date(), local_start.time())
    if _exists(wanted, zone):
        assert local_due.time() == local_start.time()
    else:  # that wall time does not exist on the day: moved forward by the gap
        assert local_due.replace(tzinfo=None) > wanted
    assert due > start


@given(instants, st.integers(1, 10**6), zones)
def test_exact_durations_add_elapsed_seconds_in_any_zone(
    start: datetime, seconds: int, zone: ZoneInfo
) -> None:
    due = add_in_zone(start, CalendarDuration(seconds=seconds), zone)
    assert due - start == timedelta(seconds=seconds)


def test_a_series_whose_first_time_fell_on_a_short_months_end_goes_on_from_that_day() -> None:
    # Jan 31 + P1M is Feb 28: that is the series' anchor, and each month counts from it.
    start = datetime(2025, 1, 31, 9, 30, tzinfo=PARIS)
    monthly = CalendarDuration(months=1)
    days = [series_time(start, monthly, monthly, n, PARIS).astimezone(PARIS) for n in range(3)]
    assert [d.date() for d in days] == [date(2025, 2, 28), date(2025, 3, 28), date(2025, 4, 28)]
