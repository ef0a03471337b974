"""A schedule: a site's layers of rotations in one time zone, checked from an operator's draft."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crisis.domain.durations import InvalidDuration, parse_duration
from crisis.domain.policy import FieldError
from crisis.domain.schedules.closed_days import NO_CLOSED_DAYS, ClosedDays
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.restrictions import Restriction, RestrictionDays
from crisis.domain.schedules.rotation import MAX_EVERY, MIN_EVERY, Rotation, RotationKind

MAX_LAYERS = 10
MAX_PARTICIPANTS = 100
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class RunningLayer:
    """What answers at layer `position` (0-based) before `until`, instead of the schedule's own
    layer there: the shift that was running when a PUT asked for `next_handoff` (`layer` None:
    that position had nobody). Kept in the zone it ran in, so a zone change moves no one now."""

    position: int
    layer: Layer | None
    timezone: str
    until: datetime

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Schedule:
    """Later layers win wherever they have someone. `timezone` is an IANA zone name.

    `running` holds layers kept until their next handoff by an edit (`apply_from`
    `next_handoff`); `layer_at` is the one answer to "which layer applies here at t".

    `closed_days` are the site's closed dates (booking's closures), read with the schedule
    and never part of its events: restrictions with `days` `open` or `closed` follow them."""

    schedule_id: UUID
    site_id: UUID
    name: str
    timezone: str
    layers: tuple[Layer, ...]
    running: tuple[RunningLayer, ...] = ()
    closed_days: ClosedDays = NO_CLOSED_DAYS

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def participants(self) -> set[UUID]:
        kept = [r.layer for r in self.running if r.layer is not None]
        return {staff for layer in (*self.layers, *kept) for staff in layer.participants}

    @property
    def positions(self) -> int:
        """How many layer positions answer at some instant (a removed one may still run)."""
        return max([len(self.layers), *(r.position + 1 for r in self.running)])

    def layer_at(self, position: int, instant: datetime) -> tuple[Layer, ZoneInfo] | None:
        """The layer (and its zone) answering at `position` (0-based) at `instant`."""
        for kept in self.running:
            if kept.position == position and instant < kept.until:
                return None if kept.layer is None else (kept.layer, kept.zone)
        if position < len(self.layers):
            return self.layers[position], self.zone
        return None


class InvalidSchedule(ValueError):
    """The draft breaks a rule; `errors` names each offending field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class RestrictionDraft:
    weekdays: Sequence[int]
    start: str  # "HH:MM"
    end: str
    days: str = RestrictionDays.ANY.value


@dataclass(frozen=True)
class LayerDraft:
    kind: str
    handoff: str
    start_on: date
    participants: Sequence[UUID]
    every: str | None = None
    handoff_weekday: int | None = None
    restrictions: Sequence[RestrictionDraft] = ()


def build_schedule(
    schedule_id: UUID, site_id: UUID, name: str, timezone: str, layers: Sequence[LayerDraft]
) -> Schedule:
    """Check an operator's draft and build the schedule, or raise `InvalidSchedule`."""
    errors: list[FieldError] = []
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"1 to {MAX_NAME_LENGTH} characters"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("timezone", f"{timezone!r} is not an IANA time zone"))
    if not layers:
        errors.append(FieldError("layers", "at least one layer is needed"))
    if len(layers) > MAX_LAYERS:
        errors.append(FieldError("layers", f"at most {MAX_LAYERS} layers"))
    built = [_layer(f"layers.{i}", draft, errors) for i, draft in enumerate(layers)]
    if errors:
        raise InvalidSchedule(errors)
    return Schedule(schedule_id, site_id, name, timezone, tuple(b for b in built if b is not None))


def _layer(where: str, draft: LayerDraft, errors: list[FieldError]) -> Layer | None:
    before = len(errors)
    if not draft.participants:
        errors.append(FieldError(f"{where}.participants", "at least one staff member is needed"))
    elif len(draft.participants) > MAX_PARTICIPANTS:
        errors.append(FieldError(f"{where}.participants", f"at most {MAX_PARTICIPANTS}"))
    rotation = _rotation(where, draft, errors)
    restrictions = [
        _restriction(f"{where}.restrictions.{i}", r, errors)
        for i, r in enumerate(draft.restrictions)
    ]
    if len(errors) > before or rotation is None:
        return None
    return Layer(
        rotation,
        tuple(draft.participants),
        tuple(r for r in restrictions if r is not None),
    )


def _rotation(where: str, draft: LayerDraft, errors: list[FieldError]) -> Rotation | None:
    try:
        kind = RotationKind(draft.kind)
    except ValueError:
        errors.append(FieldError(f"{where}.rotation.kind", "one of daily, weekly, custom"))
        return None
    handoff = _clock(f"{where}.rotation.handoff", draft.handoff, errors)
    every: timedelta | None = None
    if kind is RotationKind.CUSTOM:
        every = _every(f"{where}.rotation.every", draft.every, errors)
    elif draft.every is not None:
        errors.append(FieldError(f"{where}.rotation.every", "only for a custom rotation"))
    weekday = draft.handoff_weekday
    if weekday is not None and kind is not RotationKind.WEEKLY:
        errors.append(FieldError(f"{where}.rotation.handoff_weekday", "only for weekly"))
    if weekday is not None and not 1 <= weekday <= 7:
        errors.append(FieldError(f"{where}.rotation.handoff_weekday", "1 (Monday) to 7"))
    if handoff is None or (kind is RotationKind.CUSTOM and every is None):
        return None
    return Rotation(kind, handoff, draft.start_on, every, weekday)


def _every(field: str, text: str | None, errors: list[FieldError]) -> timedelta | None:
    if text is None:
        errors.append(FieldError(field, "a custom rotation needs an ISO 8601 duration"))
        return None
    try:
        every = parse_duration(text)
    except InvalidDuration as exc:
        errors.append(FieldError(field, str(exc)))
        return None
    if not MIN_EVERY <= every <= MAX_EVERY or every % timedelta(minutes=1):
        errors.append(FieldError(field, "whole minutes, from PT1H to P90D"))
        return None
    return every


def _restriction(
    where: str, draft: RestrictionDraft, errors: list[FieldError]
) -> Restriction | None:
    before = len(errors)
    if not draft.weekdays or any(not 1 <= d <= 7 for d in draft.weekdays):
        errors.append(FieldError(f"{where}.weekdays", "one or more of 1 (Monday) to 7"))
    start = _clock(f"{where}.from", draft.start, errors)
    end = _clock(f"{where}.to", draft.end, errors)
    if start is not None and start == end:
        errors.append(FieldError(f"{where}.to", "must differ from `from`"))
    days = _days(f"{where}.days", draft.days, errors)
    if len(errors) > before or start is None or end is None or days is None:
        return None
    return Restriction(frozenset(draft.weekdays), start, end, days)


def _days(field: str, text: str, errors: list[FieldError]) -> RestrictionDays | None:
    try:
        return RestrictionDays(text)
    except ValueError:
        errors.append(FieldError(field, "one of any, open, closed"))
        return None


def _clock(field: str, text: str, errors: list[FieldError]) -> time | None:
    hours, _, minutes = text.partition(":")
    well_formed = len(text) == 5 and hours.isdigit() and minutes.isdigit()
    if well_formed and int(hours) < 24 and int(minutes) < 60:
        return time(int(hours), int(minutes))
    errors.append(FieldError(field, f"{text!r} is not a local time HH:MM"))
    return None
