"""Recurring series: a subset of RFC 5545 RRULE, expanded at the site's wall-clock time.

`FREQ=WEEKLY` or `MONTHLY`, `INTERVAL`, `COUNT` or `UNTIL`, `BYDAY` (with an ordinal such as
`2TU` for monthly rules). python-dateutil expands the rule from the first start, given in the
site's zone, so a 17:00 session stays at 17:00 local across a DST change. Each occurrence is an
ordinary appointment; the series records which ones it booked.
"""

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from itertools import islice
from uuid import UUID
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from booking.domain.errors import DomainError, InvalidCommand, SlotTaken
from booking.domain.scheduling.closures import SiteClosed
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
    local_first = first.astimezone(zone)
    text = ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        expanded = rrulestr(text, dtstart=local_first)
    except (ValueError, TypeError) as exc:
        raise _invalid(str(exc)) from None
    starts = list(islice(iter(expanded), MAX_OCCURRENCES + 1))
    if not starts:
        raise _invalid("the rule gives no occurrence from `start` on")
    if len(starts) > MAX_OCCURRENCES:
        raise _invalid(f"a series has at most {MAX_OCCURRENCES} occurrences")
    # dateutil keeps the wall-clock time and the zone: each start's offset is its own day's.
    return [s.astimezone(UTC) for s in starts]


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
        return Conflict(
            start,
            "site",
            None,
            None,
            reason="site_closed",
            closed_on=refused.closed.day,
            closure_kind=refused.closed.closure.kind.value,
        )
    return Conflict(
        start,
        refused.resource,
        refused.conflicting_appointment_id,
        refused.conflicting_hold_id,
        conflicting_group_session_id=refused.conflicting_group_session_id,
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
            )
        case SeriesCancelled():
            assert state is not None, "SeriesCancelled before SeriesBooked"
            earliest = event.from_date
            if state.cancelled_from is not None:
                earliest = min(earliest, state.cancelled_from)
            return replace(state, cancelled_from=earliest, version=state.version + 1)
