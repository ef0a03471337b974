"""Restrictions: the local weekdays and hours a layer applies (outside them it has nobody).

A window starts on one of `weekdays` at `start` local time and ends at `end`; an `end` at or
before `start` ends on the next day (a night window, `22:00` to `07:00`). Window edges follow the
same DST rules as handoffs.

`days` also limits the days a window may start on by the site's closed days (booking's
closures): `open` days only, `closed` days only, or `any` (closures ignored, as before they
existed). A night window belongs to the day it starts on: one starting on the last day of a
closure runs into the next morning, one starting the evening before does not care.
"""

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crisis.domain.schedules.closed_days import NO_CLOSED_DAYS, ClosedDays
from crisis.domain.schedules.wall_clock import local, to_instant


class RestrictionDays(enum.StrEnum):
    """Which days a restriction's windows start on, by the site's closures."""

    ANY = "any"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Restriction:
    weekdays: frozenset[int]  # 1 = Monday … 7 = Sunday
    start: time
    end: time
    days: RestrictionDays = RestrictionDays.ANY

    def applies_on(self, day: date, closed: ClosedDays = NO_CLOSED_DAYS) -> bool:
        """Whether a window starts on the local date `day`."""
        if day.isoweekday() not in self.weekdays:
            return False
        if self.days is RestrictionDays.ANY:
            return True
        return (day in closed) == (self.days is RestrictionDays.CLOSED)

    def windows(
        self, day: date, zone: ZoneInfo, closed: ClosedDays = NO_CLOSED_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        """The window (instants) that starts on `day`, if a window starts on that day."""
        if not self.applies_on(day, closed):
            return
        end_day = day if self.end > self.start else day + timedelta(days=1)
        yield (
            to_instant(datetime.combine(day, self.start), zone),
            to_instant(datetime.combine(end_day, self.end), zone),
        )


def windows_around(
    restrictions: tuple[Restriction, ...],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    closed: ClosedDays = NO_CLOSED_DAYS,
) -> list[tuple[datetime, datetime]]:
    """Every window of any restriction that may overlap `[start, end)`."""
    first = local(start, zone).date() - timedelta(days=1)  # a night window of the day before
    last = local(end, zone).date()
    found: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for restriction in restrictions:
            found.extend(restriction.windows(day, zone, closed))
        day += timedelta(days=1)
    return found


def allows(
    restrictions: tuple[Restriction, ...],
    instant: datetime,
    zone: ZoneInfo,
    closed: ClosedDays = NO_CLOSED_DAYS,
) -> bool:
    """No restrictions: always; else `instant` lies in one of their windows."""
    if not restrictions:
        return True
    found = windows_around(restrictions, instant, instant, zone, closed)
    return any(s <= instant < e for s, e in found)
