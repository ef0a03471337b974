"""Looking ahead: the hours in which a level would resolve to nobody, and who will be on call.

Pure functions of schedules and an interval, for the daily look-ahead check.
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from crisis.domain.policy import PolicyLevel
from crisis.domain.schedules.oncall import Shift, shifts
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.schedule import Schedule

HOUR = timedelta(hours=1)

ScheduleWithOverrides = tuple[Schedule, Sequence[Override]]


def empty_hours(
    level: PolicyLevel,
    schedules: Sequence[ScheduleWithOverrides],
    start: datetime,
    hours: int,
    absent: Collection[UUID] = frozenset(),
) -> list[datetime]:
    """The starts of the hours of `[start, start + hours)` in which, at some instant, the level
    resolves to nobody. `schedules` are the level's (one it names that is missing: nobody);
    staff in `absent` (deactivated) are never paged, so their shifts cover nothing."""
    if set(level.staff_ids) - set(absent):
        return []  # named staff are always there to page
    end = start + hours * HOUR
    covered = _union(
        [
            s
            for schedule, overrides in schedules
            for s in shifts(schedule, overrides, start, end)
            if s.staff_id not in absent
        ]
    )
    gaps = _complement(covered, start, end)
    found = []
    for k in range(hours):
        hour_start = start + k * HOUR
        hour_end = hour_start + HOUR
        if any(g_start < hour_end and hour_start < g_end for g_start, g_end in gaps):
            found.append(hour_start)
    return found


def staff_on_call(
    schedules: Sequence[ScheduleWithOverrides], start: datetime, end: datetime
) -> set[UUID]:
    """Every staff member with a shift in `[start, end)`."""
    return {
        s.staff_id
        for schedule, overrides in schedules
        for s in shifts(schedule, overrides, start, end)
    }


def _union(found: list[Shift]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for shift in sorted(found, key=lambda s: s.start):
        if merged and shift.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], shift.end))
        else:
            merged.append((shift.start, shift.end))
    return merged


def _complement(
    covered: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    gaps = []
    cursor = start
    for c_start, c_end in covered:
        if c_start > cursor:
            gaps.append((cursor, c_start))
        cursor = max(cursor, c_end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
