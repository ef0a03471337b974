"""The contract's DST rules for local wall-clock times, across zones with and without DST."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.domain.schedules.wall_clock import local, to_instant

ZONES = ["America/New_York", "Europe/Paris", "Australia/Sydney", "Asia/Seoul"]

walls = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


def _occurrences(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant whose local time is `wall` (0, 1 or 2 of them)."""
    candidates = {wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)}
    return sorted(c for c in candidates if local(c, zone) == wall)


@settings(max_examples=400)
@given(wall=walls, zone_name=st.sampled_from(ZONES))
def test_a_wall_time_resolves_to_its_first_occurrence_or_the_end_of_its_gap(
    wall: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    instant = to_instant(wall, zone)
    occurrences = _occurrences(wall, zone)
    if occurrences:
        assert instant == occurrences[0]
    else:  # in a gap: the first instant after it, where the offset changes
        before = instant - timedelta(seconds=1)
        assert local(before, zone) < wall < local(instant, zone)
        assert before.astimezone(zone).utcoffset() != instant.astimezone(zone).utcoffset()


def test_a_time_in_the_spring_forward_gap_is_the_first_instant_after_it() -> None:
    new_york = ZoneInfo("America/New_York")
    assert to_instant(datetime(2026, 3, 8, 2, 30), new_york) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    assert to_instant(datetime(2026, 3, 29, 2, 15), paris) == datetime(2026, 3, 29, 1, tzinfo=UTC)


def test_a_repeated_time_is_its_first_occurrence() -> None:
    new_york = ZoneInfo("America/New_York")
    # 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    assert to_instant(datetime(2026, 11, 1, 1, 30), new_york) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    sydney = ZoneInfo("Australia/Sydney")
    # Sydney falls back on 2026-04-05 at 03:00 AEDT → 02:00 AEST: 02:30 happens twice.
    assert to_instant(datetime(2026, 4, 5, 2, 30), sydney) == datetime(
        2026, 4, 4, 15, 30, tzinfo=UTC
    )
