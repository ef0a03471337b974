"""A counselor's working hours: weekly periods and dated exceptions, in the site's zone.

Hours are wall-clock times: a 09:00 start is 09:00 local on both sides of a DST change.
"""

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from booking.domain.errors import refuse_invalid
from booking.domain.staff import StaffMember

MAX_PERIODS = 50


@dataclass(frozen=True, order=True)
class Period:
    """`[start, end)` on one day, local wall-clock time (ordered by start: a day's periods
    are listed in order)."""

    start: time
    end: time


@dataclass(frozen=True)
class WeeklyPeriod:
    weekday: int  # ISO: 1 Monday … 7 Sunday
    start: time
    end: time


@dataclass(frozen=True)
class DateException:
    """On `on`, the counselor is off (`off`) or works the exception's periods instead."""

    on: date
    off: bool
    start: time | None = None
    end: time | None = None


@dataclass(frozen=True)
class WorkingHours:
    staff_id: UUID
    site_id: UUID
    weekly: tuple[WeeklyPeriod, ...]
    exceptions: tuple[DateException, ...]
    set_at: datetime
    version: int

    def periods_on(self, day: date) -> list[Period]:
        dated = [e for e in self.exceptions if e.on == day]
        if dated:
            if any(e.off for e in dated):
                return []
            return sorted(Period(e.start, e.end) for e in dated if e.start and e.end)
        weekday = day.isoweekday()
        return sorted(Period(p.start, p.end) for p in self.weekly if p.weekday == weekday)

    def intervals(
        self, zone: ZoneInfo, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The working intervals (UTC instants) overlapping `[start, end)`, clipped to it."""
        found: list[tuple[datetime, datetime]] = []
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        while day <= last:
            for period in self.periods_on(day):
                begins = datetime.combine(day, period.start, zone).astimezone(UTC)
                ends = datetime.combine(day, period.end, zone).astimezone(UTC)
                begins, ends = max(begins, start), min(ends, end)
                if begins < ends:
                    found.append((begins, ends))
            day += timedelta(days=1)
        return found


@dataclass(frozen=True)
class SetWorkingHours:
    weekly: tuple[WeeklyPeriod, ...]
    exceptions: tuple[DateException, ...] = ()


@dataclass(frozen=True)
class WorkingHoursSet:
    staff_id: UUID
    site_id: UUID
    weekly: tuple[WeeklyPeriod, ...]
    exceptions: tuple[DateException, ...]
    set_at: datetime


HoursEvent = WorkingHoursSet


def set_hours(counselor: StaffMember, command: SetWorkingHours, now: datetime) -> list[HoursEvent]:
    refuse_invalid(
        {
            "staff_id": None
            if counselor.holds_sessions
            else f"a {counselor.role} holds no sessions",
            "weekly": _weekly_problem(command.weekly),
            "exceptions": _exceptions_problem(command.exceptions),
        }
    )
    return [
        WorkingHoursSet(counselor.id, counselor.site_id, command.weekly, command.exceptions, now)
    ]


def _weekly_problem(weekly: tuple[WeeklyPeriod, ...]) -> str | None:
    if len(weekly) > MAX_PERIODS:
        return f"at most {MAX_PERIODS} periods"
    for p in weekly:
        if not 1 <= p.weekday <= 7:
            return "weekday is 1 (Monday) to 7 (Sunday)"
        if p.end <= p.start:
            return "each period's `to` comes after its `from`"
    for weekday in range(1, 8):
        if _overlapping([Period(p.start, p.end) for p in weekly if p.weekday == weekday]):
            return "periods of one weekday must not overlap"
    return None


def _exceptions_problem(exceptions: tuple[DateException, ...]) -> str | None:
    if len(exceptions) > MAX_PERIODS:
        return f"at most {MAX_PERIODS} exceptions"
    for e in exceptions:
        if e.off and (e.start or e.end):
            return "an exception is either `off` or has `from` and `to`"
        if not e.off and (e.start is None or e.end is None or e.end <= e.start):
            return "an exception that is not `off` needs `from` before `to`"
    days = {e.on for e in exceptions}
    for day in days:
        worked = [Period(e.start, e.end) for e in exceptions if e.on == day and e.start and e.end]
        if _overlapping(worked):
            return "periods of one date must not overlap"
    return None


def _overlapping(periods: list[Period]) -> bool:
    ordered = sorted(periods, key=lambda p: p.start)
    return any(a.end > b.start for a, b in itertools.pairwise(ordered))


def evolve(state: WorkingHours | None, event: HoursEvent) -> WorkingHours:
    version = 1 if state is None else state.version + 1
    fresh = WorkingHours(
        event.staff_id, event.site_id, event.weekly, event.exceptions, event.set_at, version
    )
    return fresh if state is None else replace(fresh, version=version)
