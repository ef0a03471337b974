"""A rotation: when turns hand off, in the schedule's local wall-clock time.

Turn `n` starts at the local wall-clock time `first + n * every` (calendar days and clock
hours, never a count of seconds), resolved to an instant by the DST rules of `wall_clock`. So a
Monday 09:00 handoff stays at 09:00 local across DST, and a `PT12H` rotation keeps handing off
at the same two clock times (a turn across a DST change is an hour shorter or longer).
"""

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crisis.domain.schedules.wall_clock import local, to_instant

MIN_EVERY = timedelta(hours=1)
MAX_EVERY = timedelta(days=90)


class RotationKind(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Rotation:
    """`handoff_weekday` (1 = Monday) is for weekly rotations; `every` for custom ones.

    The first turn starts at the first handoff on or after `start_on`.
    """

    kind: RotationKind
    handoff: time
    start_on: date
    every: timedelta | None = None
    handoff_weekday: int | None = None

    @property
    def turn_length(self) -> timedelta:
        """The wall-clock length of a turn."""
        match self.kind:
            case RotationKind.DAILY:
                return timedelta(days=1)
            case RotationKind.WEEKLY:
                return timedelta(days=7)
            case RotationKind.CUSTOM:
                assert self.every is not None
                return self.every

    @property
    def first_handoff(self) -> datetime:
        """The naive local wall-clock time of the first handoff."""
        day = self.start_on
        if self.kind is RotationKind.WEEKLY and self.handoff_weekday is not None:
            day += timedelta(days=(self.handoff_weekday - day.isoweekday()) % 7)
        return datetime.combine(day, self.handoff)

    def handoff_at(self, turn: int, zone: ZoneInfo) -> datetime:
        """The instant (UTC) turn number `turn` starts (0 = the first turn)."""
        return to_instant(self.first_handoff + turn * self.turn_length, zone)

    def turn_at(self, instant: datetime, zone: ZoneInfo) -> int | None:
        """The turn running at `instant`; None before the first handoff."""
        elapsed = local(instant, zone) - self.first_handoff
        turn = elapsed // self.turn_length  # a guess from wall-clock time, corrected below
        while self.handoff_at(turn + 1, zone) <= instant:
            turn += 1
        while turn >= 0 and self.handoff_at(turn, zone) > instant:
            turn -= 1
        return turn if turn >= 0 else None
