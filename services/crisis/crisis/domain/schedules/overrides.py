"""Overrides: someone replaces, or is added to, whoever the layers give for an interval."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

MAX_OVERRIDE_LENGTH_DAYS = 90


@dataclass(frozen=True)
class Override:
    """`replaces` None: `staff_id` is added; else `staff_id` takes `replaces`'s place while
    `replaces` is on call during `[start, end)` (and nothing happens while they are not)."""

    override_id: UUID
    staff_id: UUID
    start: datetime
    end: datetime
    replaces: UUID | None = None

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class OnCallSlot:
    """One person on call, and why: the layer (1-based) that gave them, the override if any."""

    staff_id: UUID
    layer: int | None
    override_id: UUID | None = None


def apply_overrides(
    slots: list[OnCallSlot], overrides: Iterable[Override], instant: datetime
) -> list[OnCallSlot]:
    """The slots after every override covering `instant`, in the order they were entered."""
    for override in overrides:
        if not override.covers(instant):
            continue
        if override.replaces is None:
            slots = [*slots, OnCallSlot(override.staff_id, None, override.override_id)]
        else:
            slots = [
                OnCallSlot(override.staff_id, s.layer, override.override_id)
                if s.staff_id == override.replaces
                else s
                for s in slots
            ]
    return _first_of_each(slots)


def _first_of_each(slots: list[OnCallSlot]) -> list[OnCallSlot]:
    """One slot per person (someone added who was already on call stays once)."""
    seen: set[UUID] = set()
    kept = []
    for slot in slots:
        if slot.staff_id not in seen:
            seen.add(slot.staff_id)
            kept.append(slot)
    return kept


class InvalidOverride(ValueError):
    """The override breaks a rule (`field`, `message`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def build_override(
    override_id: UUID, staff_id: UUID, start: datetime, end: datetime, replaces: UUID | None
) -> Override:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidOverride("start", "start and end need a UTC offset")
    if end <= start:
        raise InvalidOverride("end", "must be after start")
    if end - start > timedelta(days=MAX_OVERRIDE_LENGTH_DAYS):
        raise InvalidOverride("end", f"an override lasts at most P{MAX_OVERRIDE_LENGTH_DAYS}D")
    if replaces == staff_id:
        raise InvalidOverride("replaces", "a staff member cannot replace themselves")
    return Override(override_id, staff_id, start.astimezone(UTC), end.astimezone(UTC), replaces)
