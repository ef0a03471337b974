"""Quiet-hours arithmetic in the recipient's zone, windows over midnight and DST days."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.domain.quiet_hours import QuietHours, zone_named

PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietHours(time(21, 0), time(8, 0))


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_a_window_over_midnight_covers_the_night_and_ends_before_its_end(
    wall: time, quiet: bool
) -> None:
    assert NIGHT.covers(wall) is quiet


def test_a_daytime_window_covers_only_its_hours() -> None:
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert [lunch.covers(time(h)) for h in (11, 12, 13, 14)] == [False, True, True, False]


def test_an_empty_window_covers_nothing() -> None:
    assert not QuietHours(time(9), time(9)).covers(time(9))


def test_a_message_held_late_in_the_evening_goes_the_next_morning_local_time() -> None:
    now = datetime(2025, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Paris (CEST)
    assert NIGHT.release_at(now, PARIS) == datetime(2025, 6, 11, 8, 0, tzinfo=PARIS)


def test_a_message_held_after_midnight_goes_the_same_morning() -> None:
    now = datetime(2025, 6, 11, 1, 0, tzinfo=UTC)  # 03:00 in Paris
    assert NIGHT.release_at(now, PARIS) == datetime(2025, 6, 11, 8, 0, tzinfo=PARIS)


def test_outside_quiet_hours_nothing_is_held() -> None:
    now = datetime(2025, 6, 11, 10, 0, tzinfo=UTC)  # noon in Paris
    assert NIGHT.release_at(now, PARIS) is None


def test_the_window_follows_the_recipients_zone_not_utc() -> None:
    now = datetime(2025, 6, 11, 13, 0, tzinfo=UTC)  # 22:00 in Seoul, 15:00 in Paris
    assert NIGHT.release_at(now, PARIS) is None
    assert NIGHT.release_at(now, ZoneInfo("Asia/Seoul")) == datetime(
        2025, 6, 12, 8, 0, tzinfo=ZoneInfo("Asia/Seoul")
    )


def test_an_end_inside_the_spring_forward_gap_releases_just_after_the_gap() -> None:
    # 2025-03-30 in Paris: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    window = QuietHours(time(1, 0), time(2, 30))
    now = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 01:30 CET
    release = window.release_at(now, PARIS)
    assert release == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert release.astimezone(PARIS).time() == time(3, 30)


def test_an_end_that_happens_twice_on_fall_back_night_releases_at_the_next_one() -> None:
    # 2025-10-26 in Paris: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    window = QuietHours(time(0, 0), time(2, 30))
    first_pass = datetime(2025, 10, 26, 0, 10, tzinfo=UTC)  # 02:10 CEST
    second_pass = datetime(2025, 10, 26, 1, 10, tzinfo=UTC)  # 02:10 CET
    assert window.release_at(first_pass, PARIS) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert window.release_at(second_pass, PARIS) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)


def test_an_unknown_zone_means_utc() -> None:
    assert zone_named("Mars/Olympus_Mons") == ZoneInfo("UTC")
    assert zone_named(None) == ZoneInfo("UTC")
    assert zone_named("Asia/Seoul") == ZoneInfo("Asia/Seoul")


clock_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(QuietHours, clock_times, clock_times).filter(lambda w: w.start != w.end)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Seoul",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # DST transitions at midnight
]


@given(windows, instants, st.sampled_from(ZONES))
def test_a_message_is_held_exactly_when_the_local_time_is_quiet_and_released_later(
    window: QuietHours, now: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    release = window.release_at(now, zone)
    local_wall = now.astimezone(zone).time()
    assert (release is not None) == window.covers(local_wall)
    if release is not None:
        assert now < release <= now + timedelta(hours=25)


@given(windows, instants, st.sampled_from(["UTC", "Asia/Kolkata"]))
def test_without_dst_the_release_is_the_windows_end_and_quiet_until_then(
    window: QuietHours, now: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    release = window.release_at(now, zone)
    if release is None:
        return
    assert release.astimezone(zone).time() == window.end
    assert release - now <= timedelta(hours=24)
    steps = 12
    for k in range(steps):
        between = now + (release - now) * k / steps
        assert window.covers(between.astimezone(zone).time())
