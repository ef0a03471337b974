"""A layer: one rotation over its participants, limited by optional restrictions."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from crisis.domain.schedules.closed_days import NO_CLOSED_DAYS, ClosedDays
from crisis.domain.schedules.restrictions import Restriction, allows, windows_around
from crisis.domain.schedules.rotation import Rotation


@dataclass(frozen=True)
class Layer:
    """Participants take turns in this order, starting with the first at the first handoff."""

    rotation: Rotation
    participants: tuple[UUID, ...]
    restrictions: tuple[Restriction, ...] = ()

    def on_call(
        self, instant: datetime, zone: ZoneInfo, closed: ClosedDays = NO_CLOSED_DAYS
    ) -> UUID | None:
        """Whose turn it is at `instant`; None before the first handoff or outside the windows
        (which `closed`, the site's closed days, may move)."""
        if not self.participants or not allows(self.restrictions, instant, zone, closed):
            return None
        turn = self.rotation.turn_at(instant, zone)
        if turn is None:
            return None
        return self.participants[turn % len(self.participants)]

    def changes(
        self,
        start: datetime,
        end: datetime,
        zone: ZoneInfo,
        closed: ClosedDays = NO_CLOSED_DAYS,
    ) -> set[datetime]:
        """Instants in `(start, end)` where the layer's answer may change."""
        found: set[datetime] = set()
        turn = self.rotation.turn_at(start, zone)
        turn = 0 if turn is None else turn + 1
        while (at := self.rotation.handoff_at(turn, zone)) < end:
            found.add(at)
            turn += 1
        for window in windows_around(self.restrictions, start, end, zone, closed):
            found.update(window)
        return {at for at in found if start < at < end}
