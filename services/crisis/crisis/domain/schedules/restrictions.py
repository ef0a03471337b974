"""Restrictions: the local weekdays and hours a layer applies (outside them it has nobody).

A window starts on one of `weekdays` at `start` local time and ends at `end`; an `end` at or
before `start` ends on the next day (a night window, `22:00` to `07:00`). Window edges follow the
same DST rules as handoffs.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crisis.domain.schedules.wall_clock import local, to_instant


@dataclass(frozen=True)
class Restriction:
    weekdays: frozenset[int]  # 1 = Monday … 7 = Sunday
    start: time
    end: time

    def windows(self, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """The window (instants) that starts on `day`, if `day` is one of the weekdays."""
        if day.isoweekday() not in self.weekdays:
            return
        end_day = day if self.end > self.start else day + timedelta(days=1)
        yield (
            to_instant(datetime.combine(day, self.start), zone),
            to_instant(datetime.combine(end_day, self.end), zone),
        )


def windows_around(
    restrictions: tuple[Restriction, ...], start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Every window of any restriction that may overlap `[start, end)`."""
    first = local(start, zone).date() - timedelta(days=1)  # a night window of the day before
    last = local(end, zone).date()
    found: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for restriction in restrictions:
            found.extend(restriction.windows(day, zone))
        day += timedelta(days=1)
    return found


def allows(restrictions: tuple[Restriction, ...], instant: datetime, zone: ZoneInfo) -> bool:
    """No restrictions: always; else `instant` lies in one of their windows."""
    if not restrictions:
        return True
    return any(s <= instant < e for s, e in windows_around(restrictions, instant, instant, zone))
