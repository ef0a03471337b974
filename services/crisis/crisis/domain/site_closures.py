"""A site's closures as crisis keeps them: booking's SiteClosuresChanged, recorded as crisis's
own `SiteClosuresRecorded` (so a rebuild restores them), deciding which days are closed for
the site's schedules.

The list is replaced whole each time, as booking replaces it. Recording is idempotent: the
same message again (the same list at the same time) records nothing, and a list booking changed
before the one recorded (an older message arriving late) changes nothing. The same list at a
later time is recorded all the same: it is what a late message is compared with (a day closed,
reopened, closed again, with the reopening arriving last, stays closed).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from crisis.domain.schedules.closed_days import ClosedDays
from crisis.domain.schedules.wall_clock import local

MAX_CLOSURES = 1000
"""Far above booking's own limit (200): more is not a list booking sends."""


@dataclass(frozen=True)
class Closure:
    first: date
    last: date  # included
    kind: str  # booking's code: public_holiday, training, closure (another: kept as it is)


@dataclass(frozen=True)
class SiteClosuresRecorded:
    site_id: UUID
    closures: tuple[Closure, ...]
    changed_at: datetime  # when booking changed the list (its event's time)


class BadClosures(ValueError):
    """A SiteClosuresChanged that cannot be right: dead-lettered with this reason."""


def decide_record(
    current: SiteClosuresRecorded | None,
    site_id: UUID,
    closures: Sequence[Closure],
    changed_at: datetime,
) -> list[SiteClosuresRecorded]:
    """What to record for booking's new list, or raise `BadClosures`."""
    if len(closures) > MAX_CLOSURES:
        raise BadClosures(f"{len(closures)} closures, more than {MAX_CLOSURES}")
    for i, closure in enumerate(closures):
        if closure.last < closure.first:
            raise BadClosures(f"closures.{i}: `to` {closure.last} is before `from`")
    if current is not None:
        if changed_at < current.changed_at:
            return []  # an older list than the one kept
        if current.closures == tuple(closures) and changed_at == current.changed_at:
            return []  # the same list again
    return [SiteClosuresRecorded(site_id, tuple(closures), changed_at)]


def closed_days(closures: Sequence[Closure], site_zone: ZoneInfo | None = None) -> ClosedDays:
    """The closures' dates, local in the site's zone (None when unknown: the schedule's)."""
    return ClosedDays.of(((c.first, c.last) for c in closures), site_zone)


def closed_on(closures: Sequence[Closure], day: date) -> Closure | None:
    """The closure `day` falls in, if any."""
    return next((c for c in closures if c.first <= day <= c.last), None)


def closed_during(
    closures: Sequence[Closure], zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[date, Closure]]:
    """Each closed local date (in `zone`) that `[start, end)` touches, with its closure."""
    if end <= start:
        return []
    day, last = local(start, zone).date(), local(end - timedelta(microseconds=1), zone).date()
    found = []
    while day <= last:
        closure = closed_on(closures, day)
        if closure is not None:
            found.append((day, closure))
        day += timedelta(days=1)
    return found
