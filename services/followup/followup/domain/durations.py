"""ISO 8601 durations with calendar parts (years, months, weeks, days) and calendar arithmetic.

A small parser of our own rather than a dependency: policies need exactly the calendar/exact
split below (`P1M` moves the wall clock, `PT24H` is 24 elapsed hours), which `timedelta` cannot
hold and which libraries express differently. Fractions and negative durations are rejected.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_PATTERN = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


class InvalidDuration(ValueError):
    """Text that is not an ISO 8601 duration this service understands."""


@dataclass(frozen=True)
class CalendarDuration:
    """A duration in a calendar: the date part moves the local wall clock, the time part is exact.

    Weeks are folded into days (`P1W` == `P7D`).
    """

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def has_date_part(self) -> bool:
        return bool(self.years or self.months or self.days)

    @property
    def exact_part(self) -> timedelta:
        return timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)

    @property
    def is_positive(self) -> bool:
        return self.has_date_part or self.exact_part > timedelta(0)

    def times(self, factor: int) -> "CalendarDuration":
        return CalendarDuration(
            self.years * factor,
            self.months * factor,
            self.days * factor,
            self.hours * factor,
            self.minutes * factor,
            self.seconds * factor,
        )

    def isoformat(self) -> str:
        date_part = "".join(
            f"{n}{unit}"
            for n, unit in ((self.years, "Y"), (self.months, "M"), (self.days, "D"))
            if n
        )
        time_part = "".join(
            f"{n}{unit}"
            for n, unit in ((self.hours, "H"), (self.minutes, "M"), (self.seconds, "S"))
            if n
        )
        if not date_part and not time_part:
            return "PT0S"
        return "P" + date_part + (f"T{time_part}" if time_part else "")

    def __str__(self) -> str:
        return self.isoformat()


def parse_duration(text: str) -> CalendarDuration:
    """Parse `P1Y2M3W4DT5H6M7S` and its shorter forms (`P7D`, `PT30S`, `P1M`)."""
    match = _PATTERN.fullmatch(text.strip().upper())
    if match is None:
        raise InvalidDuration(f"{text!r} is not an ISO 8601 duration such as P7D, PT30S or P1M")
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    weeks = parts.pop("weeks", 0)
    parts["days"] = parts.get("days", 0) + 7 * weeks
    return CalendarDuration(**parts)


def add_months(day: date, months: int) -> date:
    """Same day of month `months` later, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_in_zone(instant: datetime, duration: CalendarDuration, zone: ZoneInfo) -> datetime:
    """`instant + duration` as a person in `zone` counts it; the answer is in UTC.

    The date part keeps the local wall-clock time (09:00 stays 09:00 across a DST change); a wall
    time that does not exist that day (spring-forward gap) moves forward by the gap. The time part
    is then added as elapsed time.
    """
    result = instant.astimezone(UTC)
    if duration.has_date_part:
        local = instant.astimezone(zone)
        day = add_months(local.date(), 12 * duration.years + duration.months)
        day += timedelta(days=duration.days)
        wall = datetime.combine(day, local.time().replace(fold=0), tzinfo=zone)
        result = wall.astimezone(UTC)
    return result + duration.exact_part


def series_time(
    start: datetime, first: CalendarDuration, every: CalendarDuration, n: int, zone: ZoneInfo
) -> datetime:
    """The `n`-th time (from 0) of the series `start + first`, then every `every`, in UTC.

    Every occurrence is counted from the series' anchor (`start + first` on the local calendar,
    the first time's date as it fell), never from the previous occurrence: a monthly series
    anchored on the 31st falls on the 28th or 29th in February and on the 31st again in March,
    and a wall time moved forward by a DST gap on one day is the nominal wall time again on the
    next. An anchor that itself fell on a short month's end (Jan 31 + P1M = Feb 28) is the 28th:
    the series goes on from there (Mar 28), as the client was first told. Exact parts add up as
    elapsed time.
    """
    months = 12 * first.years + first.months
    later_months = n * (12 * every.years + every.months)
    exact = first.exact_part + every.exact_part * n
    if not (months or first.days or later_months or every.days * n):
        return start.astimezone(UTC) + exact
    local = start.astimezone(zone)
    anchor_day = add_months(local.date(), months) + timedelta(days=first.days)
    day = add_months(anchor_day, later_months) + timedelta(days=every.days * n)
    wall = datetime.combine(day, local.time().replace(fold=0), tzinfo=zone)
    return wall.astimezone(UTC) + exact


def start_of_day_in_zone(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant of wall time `at` on `day` in `zone`, in UTC."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
