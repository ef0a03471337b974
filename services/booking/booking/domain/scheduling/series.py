"""Recurring series: a subset of RFC 5545 RRULE, expanded at the site's wall-clock time.

`FREQ=WEEKLY` or `MONTHLY`, `INTERVAL`, `COUNT` or `UNTIL`, `BYDAY` (with an ordinal such as
`2TU` for monthly rules). python-dateutil expands the rule from the first start, given in the
site's zone, so a 17:00 session stays at 17:00 local across a DST change. Each occurrence is an
ordinary appointment; the series records which ones it booked.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from uuid import UUID
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from booking.domain.errors import DomainError, InvalidCommand, SlotTaken
from booking.domain.scheduling.closures import Closure, SiteClosed, closed_day
from counseling_shared.codes import CancelledBy, Modality

MAX_OCCURRENCES = 52
_KEYS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY"}
_BYDAY = re.compile(r"^([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{8})(T(\d{6})Z?)?$")


def _invalid(message: str) -> InvalidCommand:
    return InvalidCommand({"rrule": message})


def occurrences(rule: str, first: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC starts the rule gives from `first` (local wall-clock time in `zone`).

    Raises `InvalidCommand` (field `rrule`) outside the subset or beyond 52 occurrences."""
    starts = list(islice(_expanded(_parts(rule, zone), first, zone), MAX_OCCURRENCES + 1))
    if not starts:
        raise _invalid("the rule gives no occurrence from `start` on")
    if len(starts) > MAX_OCCURRENCES:
        raise _invalid(f"a series has at most {MAX_OCCURRENCES} occurrences")
    return starts


def _parts(rule: str, zone: ZoneInfo) -> dict[str, str]:
    """The rule's parts, checked against the subset (`UNTIL` already in UTC)."""
    parts: dict[str, str] = {}
    for part in rule.strip().removeprefix("RRULE:").split(";"):
        key, sep, value = part.partition("=")
        if not sep or key.upper() not in _KEYS or key.upper() in parts:
            raise _invalid(f"{part!r}: only FREQ, INTERVAL, COUNT, UNTIL and BYDAY, once each")
        parts[key.upper()] = value.upper()
    if parts.get("FREQ") not in ("WEEKLY", "MONTHLY"):
        raise _invalid("FREQ must be WEEKLY or MONTHLY")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise _invalid("give exactly one of COUNT and UNTIL")
    if "COUNT" in parts and not (parts["COUNT"].isdigit() and int(parts["COUNT"]) >= 1):
        raise _invalid("COUNT is a positive number")
    if "INTERVAL" in parts and not (
        parts["INTERVAL"].isdigit() and 1 <= int(parts["INTERVAL"]) <= 12
    ):
        raise _invalid("INTERVAL is a number from 1 to 12")
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        if not all(_BYDAY.match(d) for d in days):
            raise _invalid("BYDAY lists weekdays such as MO,WE (monthly also 2TU or -1FR)")
        if parts["FREQ"] == "WEEKLY" and any(_BYDAY.match(d).group(1) for d in days):  # type: ignore[union-attr]
            raise _invalid("a weekly BYDAY takes plain weekdays")
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_in_utc(parts["UNTIL"], zone)
    return parts


def _expanded(parts: dict[str, str], first: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """The UTC starts of the checked `parts` from `first`, lazily (without COUNT or UNTIL
    they run on: the caller takes what it needs)."""
    text = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        expanded = rrulestr(text, dtstart=first.astimezone(zone))
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from None
    # dateutil keeps the wall-clock time and the zone: each start's offset is its own day's.
    return (s.astimezone(UTC) for s in expanded)


@dataclass(frozen=True)
class SkippedOccurrence:
    """A date of the rule left out because the site is closed that day (`skip_closed`)."""

    start: datetime
    closed_on: date
    closure_kind: str
    reason: str = "site_closed"


@dataclass(frozen=True)
class Planned:
    """The starts a series books, and the closed dates of its rule it leaves out."""

    starts: list[datetime]
    skipped: list[SkippedOccurrence]


def plan_occurrences(
    rule: str,
    first: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    closures: tuple[Closure, ...],
) -> Planned:
    """The rule's starts with every occurrence touching a closed day left out (no closures:
    `occurrences` itself). `COUNT` counts the occurrences booked, so the series runs on past
    a closed date, as a front desk expects of "ten sessions"; `UNTIL` keeps its last date.

    Raises `SeriesConflicts` (each closed date, `site_closed`) when nothing is left to book,
    or when more than 52 closed dates would have to be passed over to reach `COUNT` or
    `UNTIL`."""
    if not closures:
        return Planned(occurrences(rule, first, zone), [])
    parts = _parts(rule, zone)
    count = int(parts.pop("COUNT")) if "COUNT" in parts else None
    if count is not None and count > MAX_OCCURRENCES:
        raise _invalid(f"a series has at most {MAX_OCCURRENCES} occurrences")
    kept: list[datetime] = []
    skipped: list[SkippedOccurrence] = []
    for start in _expanded(parts, first, zone):
        closed = closed_day(closures, zone, start, start + duration)
        if closed is None:
            kept.append(start)
        else:
            skipped.append(SkippedOccurrence(start, closed.day, closed.closure.kind.value))
        if len(kept) > MAX_OCCURRENCES:
            raise _invalid(f"a series has at most {MAX_OCCURRENCES} occurrences")
        if len(kept) == count or len(skipped) > MAX_OCCURRENCES:
            break
    if not kept and not skipped:
        raise _invalid("the rule gives no occurrence from `start` on")
    # Past 52 closed dates the rule was not followed to its end (COUNT or UNTIL alike):
    # refused, never a series cut short before the end its caller gave.
    passed_over = len(skipped) > MAX_OCCURRENCES
    if not kept or passed_over or (count is not None and len(kept) < count):
        raise SeriesConflicts([_closed_conflict(s) for s in skipped])
    return Planned(kept, skipped)


def _until_in_utc(value: str, zone: ZoneInfo) -> str:
    """UNTIL as dateutil needs it with a zoned start: UTC. A date means its end, locally."""
    match = _UNTIL.match(value)
    if match is None:
        raise _invalid("UNTIL is a date (20300630) or a UTC time (20300630T170000Z)")
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d").date()
        if match.group(2) is None:
            local = datetime.combine(day, time(23, 59, 59), zone)
            return local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        clock = datetime.strptime(match.group(3), "%H%M%S").time()
    except ValueError:
        raise _invalid("UNTIL is not a real date") from None
    instant = datetime.combine(day, clock, UTC if value.endswith("Z") else zone)
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Conflict:
    start: datetime
    resource: str
    conflicting_appointment_id: UUID | None
    conflicting_hold_id: UUID | None
    # `taken` (a session or hold has it) or `site_closed` (the site is closed that day:
    # `closed_on` and `closure_kind` say which day and why).
    reason: str = "taken"
    closed_on: date | None = None
    closure_kind: str | None = None
    conflicting_group_session_id: UUID | None = None  # a group session has it


def conflict_of(start: datetime, refused: SlotTaken | SiteClosed) -> Conflict:
    """The occurrence at `start` as one entry of a series' 409: what holds its slot, or the
    site's closed day. One mapping for appointment series and group series alike."""
    if isinstance(refused, SiteClosed):
        closed = refused.closed
        return _closed_conflict(SkippedOccurrence(start, closed.day, closed.closure.kind.value))
    return Conflict(
        start,
        refused.resource,
        refused.conflicting_appointment_id,
        refused.conflicting_hold_id,
        conflicting_group_session_id=refused.conflicting_group_session_id,
    )


def _closed_conflict(skipped: SkippedOccurrence) -> Conflict:
    return Conflict(
        skipped.start,
        "site",
        None,
        None,
        reason="site_closed",
        closed_on=skipped.closed_on,
        closure_kind=skipped.closure_kind,
    )


class SeriesConflicts(DomainError):
    """Some occurrences collide with booked sessions or holds, or fall on a day the site is
    closed: the series books none (409)."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        starts = ", ".join(c.start.isoformat() for c in conflicts)
        super().__init__(
            f"{len(conflicts)} occurrence(s) are taken or on a closed day: {starts};"
            " nothing was booked"
        )
        self.conflicts = conflicts


@dataclass(frozen=True)
class Series:
    id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID
    room_id: UUID | None
    modality: Modality
    rrule: str
    timezone: str
    duration_minutes: int
    booked_at: datetime
    appointment_ids: tuple[UUID, ...]
    version: int
    cancelled_from: date | None = None
    skipped: tuple[SkippedOccurrence, ...] = ()  # closed dates of the rule left out


@dataclass(frozen=True)
class SeriesBooked:
    series_id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID
    room_id: UUID | None
    modality: Modality
    rrule: str
    timezone: str
    duration_minutes: int
    appointment_ids: tuple[UUID, ...]
    booked_at: datetime
    # `skip_closed`: the rule's closed dates left out (none in events stored before it).
    skipped: tuple[SkippedOccurrence, ...] = ()


@dataclass(frozen=True)
class SeriesCancelled:
    series_id: UUID
    from_date: date
    cancelled_by: CancelledBy
    appointment_ids: tuple[UUID, ...]  # the occurrences this cancelled
    cancelled_at: datetime


SeriesEvent = SeriesBooked | SeriesCancelled


def evolve(state: Series | None, event: SeriesEvent) -> Series:
    match event:
        case SeriesBooked():
            return Series(
                event.series_id,
                event.site_id,
                event.counselor_id,
                event.client_id,
                event.room_id,
                event.modality,
                event.rrule,
                event.timezone,
                event.duration_minutes,
                event.booked_at,
                event.appointment_ids,
                version=1,
                skipped=event.skipped,
            )
        case SeriesCancelled():
            assert state is not None, "SeriesCancelled before SeriesBooked"
            earliest = event.from_date
            if state.cancelled_from is not None:
                earliest = min(earliest, state.cancelled_from)
            return replace(state, cancelled_from=earliest, version=state.version + 1)
