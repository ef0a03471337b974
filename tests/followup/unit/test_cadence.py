from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counseling_shared.codes import GoalHorizon, Intensity
from followup.domain import cadence
from followup.domain.durations import CalendarDuration, add_months, parse_duration
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy
from followup.domain.preferences import FollowUpPreferences

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
STANDARD = FollowUpPreferences(intensity=Intensity.STANDARD)
LIGHT = FollowUpPreferences(intensity=Intensity.LIGHT)

zones = st.sampled_from([PARIS, NEW_YORK, ZoneInfo("Asia/Seoul"), ZoneInfo("UTC")])
instants = st.datetimes(datetime(2010, 1, 1), datetime(2050, 1, 1), timezones=st.just(UTC))
horizons = st.sampled_from(list(GoalHorizon))
positive = st.builds(
    CalendarDuration,
    st.integers(0, 1),
    st.integers(0, 6),
    st.integers(0, 40),
    st.integers(0, 30),
    st.integers(0, 59),
    st.integers(0, 59),
).filter(lambda d: d.is_positive)
policies = st.builds(
    FollowUpPolicy,
    first_checkin_after=positive,
    short_term_every=positive,
    long_term_every=positive,
    no_show_outreach_after=positive,
    post_closure_checkins=st.lists(positive, max_size=4).map(tuple),
)


@given(instants, policies, horizons, st.sampled_from([STANDARD, LIGHT]), zones)
def test_check_in_due_times_strictly_increase(
    completed_at: datetime,
    policy: FollowUpPolicy,
    horizon: GoalHorizon,
    preferences: FollowUpPreferences,
    zone: ZoneInfo,
) -> None:
    series = list(
        islice(cadence.checkin_series(completed_at, policy, horizon, preferences, zone), 8)
    )
    assert completed_at < series[0]
    assert all(earlier < later for earlier, later in pairwise(series))


@given(instants, st.integers(1, 60), horizons, zones)
def test_light_intensity_doubles_every_interval_in_wall_clock_days(
    completed_at: datetime, days: int, horizon: GoalHorizon, zone: ZoneInfo
) -> None:
    every = CalendarDuration(days=days)
    policy = FollowUpPolicy(
        first_checkin_after=every, short_term_every=every, long_term_every=every
    )

    def local_days(preferences: FollowUpPreferences) -> list[int]:
        series = islice(cadence.checkin_series(completed_at, policy, horizon, preferences, zone), 4)
        dates = [completed_at.astimezone(zone).date()] + [d.astimezone(zone).date() for d in series]
        return [(b - a).days for a, b in pairwise(dates)]

    assert local_days(STANDARD) == [days] * 4
    assert local_days(LIGHT) == [2 * days] * 4


@given(instants, st.integers(1, 100_000), zones)
def test_light_intensity_doubles_exact_intervals(
    completed_at: datetime, seconds: int, zone: ZoneInfo
) -> None:
    every = CalendarDuration(seconds=seconds)
    policy = FollowUpPolicy(first_checkin_after=every, short_term_every=every)
    light = list(
        islice(cadence.checkin_series(completed_at, policy, GoalHorizon.SHORT_TERM, LIGHT, zone), 3)
    )
    assert [b - a for a, b in pairwise([completed_at, *light])] == [
        timedelta(seconds=2 * seconds)
    ] * 3


@given(instants, horizons, st.sampled_from([PARIS, NEW_YORK]))
def test_default_check_ins_keep_the_sessions_wall_clock_time_across_dst(
    completed_at: datetime, horizon: GoalHorizon, zone: ZoneInfo
) -> None:
    local = completed_at.astimezone(zone)
    # Sessions happen in the daytime, never inside a DST gap.
    completed_at = local.replace(hour=max(local.hour, 8)).astimezone(UTC)
    series = islice(
        cadence.checkin_series(completed_at, DEFAULT_POLICY, horizon, STANDARD, zone), 14
    )
    wall = completed_at.astimezone(zone).time()
    assert all(due.astimezone(zone).time() == wall for due in series)


def test_short_term_sessions_check_in_weekly_and_long_term_monthly() -> None:
    done = datetime(2025, 1, 31, 15, 0, tzinfo=PARIS)
    short = list(
        islice(
            cadence.checkin_series(done, DEFAULT_POLICY, GoalHorizon.SHORT_TERM, STANDARD, PARIS), 3
        )
    )
    long = list(
        islice(
            cadence.checkin_series(done, DEFAULT_POLICY, GoalHorizon.LONG_TERM, STANDARD, PARIS), 3
        )
    )
    assert [d.astimezone(PARIS).date() for d in short] == [
        date(2025, 2, 7),
        date(2025, 2, 14),
        date(2025, 2, 21),
    ]
    # Each month counts from the series' anchor (Feb 7 → Mar 7 → Apr 7).
    assert [d.astimezone(PARIS).date() for d in long] == [
        date(2025, 2, 7),
        date(2025, 3, 7),
        date(2025, 4, 7),
    ]


def test_a_monthly_series_clamps_at_month_end_and_returns_to_its_anchor_day() -> None:
    policy = FollowUpPolicy(
        first_checkin_after=parse_duration("P7D"), long_term_every=parse_duration("P1M")
    )
    done = datetime(2025, 1, 24, 10, 0, tzinfo=NEW_YORK)  # first check-in Jan 31
    series = list(
        islice(cadence.checkin_series(done, policy, GoalHorizon.LONG_TERM, STANDARD, NEW_YORK), 3)
    )
    assert [d.astimezone(NEW_YORK).date() for d in series] == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
    ]
    assert all(d.astimezone(NEW_YORK).hour == 10 for d in series)


def test_no_show_outreach_is_24_hours_after_the_missed_start_by_default() -> None:
    start = datetime(2025, 11, 1, 18, 0, tzinfo=NEW_YORK)  # DST ends Nov 2
    due = cadence.no_show_outreach_due(start, DEFAULT_POLICY, NEW_YORK)
    assert due - start == timedelta(hours=24)


def test_post_closure_check_ins_count_from_the_effective_day_in_the_clients_zone() -> None:
    dues = cadence.post_closure_dues(date(2025, 3, 20), DEFAULT_POLICY, PARIS)
    local = [d.astimezone(PARIS) for d in dues]
    assert [d.date() for d in local] == [date(2025, 4, 3), date(2025, 4, 20), date(2025, 6, 20)]
    assert all(d.hour == 10 and d.minute == 0 for d in local)


day_or_longer = st.builds(
    CalendarDuration, st.just(0), st.integers(0, 3), st.integers(1, 40), st.integers(0, 23)
)


@given(instants, day_or_longer, day_or_longer, horizons, zones, st.integers(0, 400))
def test_a_resumed_series_goes_on_with_its_first_due_time_still_ahead(
    completed_at: datetime,
    first: CalendarDuration,
    every: CalendarDuration,
    horizon: GoalHorizon,
    zone: ZoneInfo,
    days_later: int,
) -> None:
    policy = FollowUpPolicy(
        first_checkin_after=first, short_term_every=every, long_term_every=every
    )
    now = completed_at + timedelta(days=days_later, minutes=7)
    due = cadence.resumed_checkin_due(completed_at, policy, horizon, STANDARD, zone, now)
    series = cadence.checkin_series(completed_at, policy, horizon, STANDARD, zone)
    expected = next(d for d in series if d > now)
    assert due == expected


def test_a_very_long_pause_on_a_tiny_interval_restarts_one_interval_from_now() -> None:
    tiny = parse_duration("PT1S")
    policy = FollowUpPolicy(first_checkin_after=tiny, short_term_every=tiny)
    done = datetime(2025, 1, 1, tzinfo=UTC)
    now = done + timedelta(days=30)
    due = cadence.resumed_checkin_due(done, policy, GoalHorizon.SHORT_TERM, STANDARD, PARIS, now)
    assert due == now + timedelta(seconds=1)


def test_a_late_check_in_is_followed_by_the_next_one_still_ahead_not_a_burst() -> None:
    policy = FollowUpPolicy(short_term_every=parse_duration("P7D"))
    done = datetime(2025, 2, 24, 9, 0, tzinfo=PARIS)
    previous = datetime(2025, 3, 3, 9, 0, tzinfo=PARIS)  # the series' first check-in
    now = datetime(2025, 3, 26, 12, 0, tzinfo=PARIS)  # three weeks of downtime
    due = cadence.next_checkin_ahead(
        done, previous, policy, GoalHorizon.SHORT_TERM, STANDARD, PARIS, now
    )
    assert due == datetime(2025, 3, 31, 9, 0, tzinfo=PARIS)


def test_a_check_in_completed_early_is_followed_by_the_next_one_of_its_series() -> None:
    policy = FollowUpPolicy(short_term_every=parse_duration("P7D"))
    done = datetime(2025, 2, 24, 9, 0, tzinfo=PARIS)
    previous = datetime(2025, 3, 3, 9, 0, tzinfo=PARIS)
    now = datetime(2025, 3, 1, 12, 0, tzinfo=PARIS)  # completed two days before it fell due
    due = cadence.next_checkin_ahead(
        done, previous, policy, GoalHorizon.SHORT_TERM, STANDARD, PARIS, now
    )
    assert due == datetime(2025, 3, 10, 9, 0, tzinfo=PARIS)


MONTHLY_FROM_THE_31ST = FollowUpPolicy(
    first_checkin_after=parse_duration("P1M"), long_term_every=parse_duration("P1M")
)


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (
            datetime(2024, 12, 31, 9, 0, tzinfo=PARIS),
            [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)],
        ),
        (
            datetime(2027, 12, 31, 9, 0, tzinfo=PARIS),
            [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)],
        ),
    ],
)
def test_p1m_from_the_31st_falls_on_each_months_last_day_without_drifting(
    done: datetime, expected: list[date]
) -> None:
    series = cadence.checkin_series(
        done, MONTHLY_FROM_THE_31ST, GoalHorizon.LONG_TERM, STANDARD, PARIS
    )
    dues = list(islice(series, 4))
    assert [d.astimezone(PARIS).date() for d in dues] == expected
    assert all(d.astimezone(PARIS).time() == time(9, 0) for d in dues)


def test_the_check_in_after_february_28th_is_on_march_31st() -> None:
    """The live path: a check-in falling due on Feb 28 plans the next from the anchor."""
    done = datetime(2024, 12, 31, 9, 0, tzinfo=PARIS)
    feb = datetime(2025, 2, 28, 9, 0, tzinfo=PARIS)
    due = cadence.next_checkin_ahead(
        done, feb, MONTHLY_FROM_THE_31ST, GoalHorizon.LONG_TERM, STANDARD, PARIS, feb
    )
    assert due == datetime(2025, 3, 31, 9, 0, tzinfo=PARIS)


def test_a_dst_gap_shift_is_not_carried_into_later_check_ins() -> None:
    # New York springs forward on 2025-03-09 at 02:00: 02:30 does not exist that day.
    done = datetime(2025, 3, 2, 2, 30, tzinfo=NEW_YORK)
    policy = FollowUpPolicy(
        first_checkin_after=parse_duration("P7D"), short_term_every=parse_duration("P7D")
    )
    dues = list(
        islice(cadence.checkin_series(done, policy, GoalHorizon.SHORT_TERM, STANDARD, NEW_YORK), 3)
    )
    walls = [d.astimezone(NEW_YORK).replace(tzinfo=None) for d in dues]
    assert walls == [
        datetime(2025, 3, 9, 3, 30),  # moved forward by the gap
        datetime(2025, 3, 16, 2, 30),  # and back to the nominal time
        datetime(2025, 3, 23, 2, 30),
    ]
    after_gap = cadence.next_checkin_ahead(
        done, dues[0], policy, GoalHorizon.SHORT_TERM, STANDARD, NEW_YORK, dues[0]
    )
    assert after_gap == dues[1]


dst_zones = st.sampled_from(
    [PARIS, NEW_YORK, ZoneInfo("Australia/Sydney"), ZoneInfo("America/Santiago")]
)
calendar_steps = st.builds(
    CalendarDuration, st.integers(0, 1), st.integers(0, 14), st.integers(0, 20)
).filter(lambda d: d.has_date_part)


def wall_exists(day: date, wall: time, zone: ZoneInfo) -> bool:
    at = datetime.combine(day, wall, tzinfo=zone)
    return at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == at.replace(tzinfo=None)


@given(instants, calendar_steps, calendar_steps, dst_zones, st.integers(0, 40))
def test_every_check_in_is_counted_from_the_series_anchor(
    completed_at: datetime,
    first: CalendarDuration,
    every: CalendarDuration,
    zone: ZoneInfo,
    n: int,
) -> None:
    """The n-th due time is the anchor's date moved by n intervals, at the anchor's nominal wall
    time (moved forward only on a day where that time falls in a DST gap)."""
    policy = FollowUpPolicy(first_checkin_after=first, long_term_every=every)
    due = cadence.checkin_due(completed_at, policy, GoalHorizon.LONG_TERM, STANDARD, zone, n)
    local = completed_at.astimezone(zone)
    anchor = add_months(local.date(), 12 * first.years + first.months) + timedelta(first.days)
    day = add_months(anchor, n * (12 * every.years + every.months)) + timedelta(n * every.days)
    wall = local.time().replace(fold=0)
    seen = due.astimezone(zone)
    if wall_exists(day, wall, zone):
        assert (seen.date(), seen.time()) == (day, wall)
    else:
        assert seen.date() == day
        assert wall < seen.time() <= (datetime.combine(day, wall) + timedelta(hours=1)).time()


@given(instants, calendar_steps, calendar_steps, dst_zones, st.integers(0, 60), st.integers(0, 9))
def test_the_next_check_in_is_the_series_next_occurrence_still_ahead(
    completed_at: datetime,
    first: CalendarDuration,
    every: CalendarDuration,
    zone: ZoneInfo,
    index: int,
    late_days: int,
) -> None:
    policy = FollowUpPolicy(first_checkin_after=first, long_term_every=every)
    series = list(
        islice(
            cadence.checkin_series(completed_at, policy, GoalHorizon.LONG_TERM, STANDARD, zone), 500
        )
    )
    previous = series[index]
    now = previous + timedelta(days=late_days)
    due = cadence.next_checkin_ahead(
        completed_at, previous, policy, GoalHorizon.LONG_TERM, STANDARD, zone, now
    )
    assert due == next(d for d in series if d > now)
