"""A site's closures: dated spans (public holidays, training days, a move) with no sessions.

Dates are the site's local calendar dates: a closed date covers its whole local day, from
local midnight to the next local midnight, whatever its length across a DST change.
"""

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from booking.domain.errors import DomainError, refuse_invalid
from booking.domain.site import MAX_BOOKING_HORIZON_MONTHS, Site

MAX_CLOSURES = 200
MAX_LABEL_LENGTH = 80
# As far ahead as any site's bookings may reach (its horizon is at most 120 months).
MAX_YEARS_AHEAD = MAX_BOOKING_HORIZON_MONTHS // 12


class ClosureKind(StrEnum):
    PUBLIC_HOLIDAY = "public_holiday"
    TRAINING = "training"
    CLOSURE = "closure"


@dataclass(frozen=True)
class Closure:
    """Closed from `first` to `last`, both included (equal for one day)."""

    first: date
    last: date
    kind: ClosureKind
    label: str | None = None

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class SiteClosures:
    site_id: UUID
    closures: tuple[Closure, ...]
    set_at: datetime
    version: int

    def closure_on(self, day: date) -> Closure | None:
        return closure_on(self.closures, day)


@dataclass(frozen=True)
class ClosedDay:
    """The first closed local date a session touches, and the closure that closes it."""

    day: date
    closure: Closure


def closure_on(closures: tuple[Closure, ...], day: date) -> Closure | None:
    return next((c for c in closures if c.covers(day)), None)


def local_days(zone: ZoneInfo, start: datetime, end: datetime) -> list[date]:
    """Every local date `[start, end)` touches (one date for a session inside a day)."""
    first = start.astimezone(zone).date()
    last = max((end - timedelta(microseconds=1)).astimezone(zone).date(), first)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def closed_day(
    closures: tuple[Closure, ...], zone: ZoneInfo, start: datetime, end: datetime
) -> ClosedDay | None:
    """The first closed local date `[start, end)` touches, if any."""
    if not closures:
        return None
    for day in local_days(zone, start, end):
        found = closure_on(closures, day)
        if found is not None:
            return ClosedDay(day, found)
    return None


def day_bounds(zone: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight, as UTC instants (23 or 25 hours long on
    a DST change)."""
    begins = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    ends = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    return begins, ends


def span_bounds(zone: ZoneInfo, closure: Closure) -> tuple[datetime, datetime]:
    """The instants a closure covers: its first day's local midnight to the midnight after
    its last day."""
    return day_bounds(zone, closure.first)[0], day_bounds(zone, closure.last)[1]


class SiteClosed(DomainError):
    """The session would fall on a day the site is closed (409 `site-closed`)."""

    def __init__(self, closed: ClosedDay) -> None:
        super().__init__(
            f"the site is closed on {closed.day.isoformat()} ({closed.closure.kind.value})"
        )
        self.closed = closed


def refuse_closed(
    closures: tuple[Closure, ...],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    allowed: bool = False,
) -> ClosedDay | None:
    """Raise `SiteClosed` when `[start, end)` touches a closed day, unless `allowed` (an
    admin's explicit override); return the closed day overridden, if any."""
    closed = closed_day(closures, zone, start, end)
    if closed is not None and not allowed:
        raise SiteClosed(closed)
    return closed


# --- the decision ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SetSiteClosures:
    closures: tuple[Closure, ...]


@dataclass(frozen=True)
class SiteClosuresSet:
    site_id: UUID
    closures: tuple[Closure, ...]
    set_at: datetime


ClosuresEvent = SiteClosuresSet


def set_closures(site: Site, command: SetSiteClosures, now: datetime) -> list[ClosuresEvent]:
    """Replace the site's closures, checked entry by entry (each problem names its entry)."""
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    latest = _years_after(today, MAX_YEARS_AHEAD)
    closures = tuple(
        replace(c, label=c.label.strip() or None) if c.label is not None else c
        for c in command.closures
    )
    problems: dict[str, str | None] = {
        "closures": f"at most {MAX_CLOSURES} entries" if len(closures) > MAX_CLOSURES else None
    }
    for n, closure in enumerate(closures):
        problems[f"closures[{n}]"] = _entry_problem(closure, latest)
    for (n, earlier), (m, _) in _overlapping_pairs(closures):
        # The later-listed entry of each pair is named, once.
        problems[f"closures[{m}]"] = problems[f"closures[{m}]"] or (
            f"overlaps closures[{n}] ({earlier.first.isoformat()} to {earlier.last.isoformat()})"
        )
    refuse_invalid(problems)
    ordered = tuple(sorted(closures, key=lambda c: c.first))
    return [SiteClosuresSet(site.id, ordered, now)]


def _entry_problem(closure: Closure, latest: date) -> str | None:
    if closure.last < closure.first:
        return "`to` must not be before `from`"
    if closure.last > latest:
        return f"`to` is at most {MAX_YEARS_AHEAD} years ahead ({latest.isoformat()})"
    if closure.label is not None and len(closure.label) > MAX_LABEL_LENGTH:
        return f"`label` is at most {MAX_LABEL_LENGTH} characters"
    if closure.label is not None and not closure.label.isprintable():
        return "`label` is one line of printable text"
    return None


def _overlapping_pairs(
    closures: tuple[Closure, ...],
) -> list[tuple[tuple[int, Closure], tuple[int, Closure]]]:
    """Pairs of entries sharing a date (the later-listed one second), among valid spans."""
    spans = [(n, c) for n, c in enumerate(closures) if c.first <= c.last]
    return [
        (a, b) if a[0] < b[0] else (b, a)
        for a, b in itertools.combinations(spans, 2)
        if a[1].first <= b[1].last and b[1].first <= a[1].last
    ]


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


def evolve(state: SiteClosures | None, event: ClosuresEvent) -> SiteClosures:
    return SiteClosures(
        event.site_id,
        event.closures,
        event.set_at,
        1 if state is None else state.version + 1,
    )
