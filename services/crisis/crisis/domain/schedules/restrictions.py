"""Restrictions: the local weekdays and hours a layer applies (outside them it has nobody).

A window starts on one of `weekdays` at `start` local time and ends at `end`; an `end` at or
before `start` ends on the next day (a night window, `22:00` to `07:00`). Window edges follow the
same DST rules as handoffs.

`days` also limits the days a window may start on by the site's closed days (booking's
closures): `open` days only, `closed` days only, or `any` (closures ignored, as before they
existed). A night window belongs to the day it starts on: one starting on the last day of a
closure runs into the next morning, one starting the evening before does not care. That day is
the one its start falls on in the SITE's zone (closures are the site's local dates), so a
schedule kept in another zone than its site is not shifted by hours; when the site's zone is
unknown, the schedule's zone stands in.
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
        """Whether a window may start on the local date `day`, `day` being also the site's
        local date of its start (the weekday is always the schedule's)."""
        return self._on_weekday(day) and self._on_kind_of_day(day, closed)

    def _on_weekday(self, day: date) -> bool:
        return day.isoweekday() in self.weekdays

    def _on_kind_of_day(self, site_day: date, closed: ClosedDays) -> bool:
        if self.days is RestrictionDays.ANY:
            return True
        return (site_day in closed) == (self.days is RestrictionDays.CLOSED)

    def windows(
        self, day: date, zone: ZoneInfo, closed: ClosedDays = NO_CLOSED_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        """The window (instants) that starts on `day` (local in `zone`), if one does; a
        restriction by closed days judges the day its start falls on in the site's zone."""
        if not self._on_weekday(day):
            return
        starts = to_instant(datetime.combine(day, self.start), zone)
        site_day = day if closed.zone is None else local(starts, closed.zone).date()
        if not self._on_kind_of_day(site_day, closed):
            return
        end_day = day if self.end > self.start else day + timedelta(days=1)
        yield (starts, to_instant(datetime.combine(end_day, self.end), zone))


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
