"""Site closures: closed local days across DST and time zones, and the list's validation."""

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.errors import InvalidCommand
from booking.domain.scheduling.closures import (
    Closure,
    ClosureKind,
    SetSiteClosures,
    SiteClosed,
    closed_day,
    day_bounds,
    local_days,
    refuse_closed,
    set_closures,
    span_bounds,
)
from tests.booking.unit.builders import NOW, a_site

PARIS = ZoneInfo("Europe/Paris")
SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
HOLIDAY = ClosureKind.PUBLIC_HOLIDAY


def _one_day(day: date, kind: ClosureKind = HOLIDAY) -> Closure:
    return Closure(day, day, kind)


def test_a_closed_day_is_23_hours_long_on_the_spring_dst_change_and_25_in_autumn() -> None:
    spring = day_bounds(PARIS, date(2030, 3, 31))
    autumn = day_bounds(PARIS, date(2030, 10, 27))

    assert spring[1] - spring[0] == timedelta(hours=23)
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert spring[0] == datetime(2030, 3, 30, 23, 0, tzinfo=UTC)  # local midnight, UTC+1


def test_sessions_at_both_edges_of_a_dst_day_are_closed_and_the_next_midnight_is_open() -> None:
    closures = (_one_day(date(2030, 10, 27)),)  # Paris falls back at 03:00 that day
    first_minute = datetime(2030, 10, 27, 0, 0, tzinfo=PARIS)
    last_hour = datetime(2030, 10, 27, 23, 0, tzinfo=PARIS)
    next_midnight = datetime(2030, 10, 28, 0, 0, tzinfo=PARIS)

    assert closed_day(closures, PARIS, first_minute, first_minute + timedelta(minutes=50))
    assert closed_day(closures, PARIS, last_hour, last_hour + timedelta(minutes=50))
    assert closed_day(closures, PARIS, next_midnight, next_midnight + timedelta(hours=1)) is None


def test_the_site_zone_decides_the_date_not_utc() -> None:
    closures = (_one_day(date(2030, 1, 1)),)
    # 31 December 16:00 UTC is already 1 January 01:00 in Seoul, still 31 December in New York.
    instant = datetime(2029, 12, 31, 16, 0, tzinfo=UTC)

    in_seoul = closed_day(closures, SEOUL, instant, instant + timedelta(minutes=50))
    in_new_york = closed_day(closures, NEW_YORK, instant, instant + timedelta(minutes=50))

    assert in_seoul is not None
    assert in_seoul.day == date(2030, 1, 1)
    assert in_new_york is None


def test_a_session_ending_exactly_at_local_midnight_does_not_touch_the_next_day() -> None:
    closures = (_one_day(date(2030, 5, 2)),)
    start = datetime(2030, 5, 1, 23, 0, tzinfo=SEOUL)

    assert closed_day(closures, SEOUL, start, start + timedelta(hours=1)) is None
    assert closed_day(closures, SEOUL, start, start + timedelta(hours=1, minutes=1)) is not None


def test_a_span_covers_every_day_from_its_first_to_its_last() -> None:
    move = Closure(date(2030, 6, 3), date(2030, 6, 7), ClosureKind.CLOSURE, "Moving")
    begins, ends = span_bounds(PARIS, move)

    assert [move.covers(date(2030, 6, d)) for d in (2, 3, 5, 7, 8)] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert ends - begins == timedelta(days=5)


def test_refuse_closed_names_the_day_and_kind_unless_allowed() -> None:
    training = _one_day(date(2030, 4, 2), ClosureKind.TRAINING)
    start = datetime(2030, 4, 2, 10, 0, tzinfo=PARIS)
    end = start + timedelta(minutes=50)

    with pytest.raises(SiteClosed) as refused:
        refuse_closed((training,), PARIS, start, end)

    assert refused.value.closed.day == date(2030, 4, 2)
    assert refused.value.closed.closure.kind is ClosureKind.TRAINING
    overridden = refuse_closed((training,), PARIS, start, end, allowed=True)
    assert overridden is not None
    assert overridden.day == date(2030, 4, 2)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=1, max_value=60 * 30),
    st.sampled_from([PARIS, SEOUL, NEW_YORK, ZoneInfo("Australia/Lord_Howe")]),
)
def test_local_days_are_consecutive_and_hold_both_ends(
    naive: datetime, minutes: int, zone: ZoneInfo
) -> None:
    start = naive.replace(tzinfo=UTC)
    end = start + timedelta(minutes=minutes)

    days = local_days(zone, start, end)

    assert days[0] == start.astimezone(zone).date()
    assert days[-1] == (end - timedelta(microseconds=1)).astimezone(zone).date()
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
    # a closure of any one of them refuses the session; of the day after, it does not
    for day in days:
        assert closed_day((_one_day(day),), zone, start, end) is not None
    assert closed_day((_one_day(days[-1] + timedelta(days=1)),), zone, start, end) is None


# --- validation ------------------------------------------------------------------------------


def _errors(*closures: Closure) -> dict[str, str]:
    with pytest.raises(InvalidCommand) as refused:
        set_closures(a_site(), SetSiteClosures(closures), NOW)
    return refused.value.errors


def test_a_valid_list_is_stored_in_date_order_with_labels_trimmed() -> None:
    at_site = a_site()
    later = Closure(date(2030, 12, 25), date(2030, 12, 25), HOLIDAY, " Christmas ")
    sooner = Closure(date(2030, 5, 5), date(2030, 5, 6), ClosureKind.TRAINING, "   ")

    [event] = set_closures(at_site, SetSiteClosures((later, sooner)), NOW)

    assert event.site_id == at_site.id
    assert [c.first for c in event.closures] == [date(2030, 5, 5), date(2030, 12, 25)]
    assert [c.label for c in event.closures] == [None, "Christmas"]


def test_to_before_from_is_refused_naming_the_entry() -> None:
    fine = _one_day(date(2030, 5, 1))
    backwards = Closure(date(2030, 5, 10), date(2030, 5, 9), HOLIDAY)

    assert list(_errors(fine, backwards)) == ["closures[1]"]


def test_beyond_the_longest_booking_horizon_is_refused() -> None:
    """Ten years: as far as a site's bookings may reach (its horizon is at most 120 months),
    so a site with a long horizon can close every day it can be booked on."""
    today = NOW.astimezone(SEOUL).date()  # the builders' site is in Seoul
    last_allowed = today.replace(year=today.year + 10)

    set_closures(a_site(), SetSiteClosures((_one_day(last_allowed),)), NOW)
    errors = _errors(_one_day(last_allowed + timedelta(days=1)))

    assert "10 years" in errors["closures[0]"]


def test_overlapping_entries_are_refused_naming_the_later_listed_one() -> None:
    week = Closure(date(2030, 8, 5), date(2030, 8, 9), ClosureKind.CLOSURE)
    inside = _one_day(date(2030, 8, 7))
    elsewhere = _one_day(date(2030, 9, 1))

    errors = _errors(week, elsewhere, inside)

    assert list(errors) == ["closures[2]"]
    assert "closures[0]" in errors["closures[2]"]


def test_adjacent_entries_do_not_overlap() -> None:
    first = Closure(date(2030, 12, 24), date(2030, 12, 25), HOLIDAY)
    second = Closure(date(2030, 12, 26), date(2030, 12, 26), HOLIDAY)

    assert len(set_closures(a_site(), SetSiteClosures((first, second)), NOW)[0].closures) == 2


def test_too_many_entries_and_a_long_or_multiline_label_are_refused() -> None:
    many = tuple(_one_day(date(2030, 4, 1) + timedelta(days=n)) for n in range(201))
    long_label = Closure(date(2030, 5, 1), date(2030, 5, 1), HOLIDAY, "x" * 81)
    two_lines = Closure(date(2030, 5, 2), date(2030, 5, 2), HOLIDAY, "May\nDay")

    assert "closures" in _errors(*many)
    errors = _errors(long_label, two_lines)
    assert set(errors) == {"closures[0]", "closures[1]"}
