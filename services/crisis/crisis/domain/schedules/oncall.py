"""The on-call calculator: who is on call at an instant, and the shifts over an interval.

Both answers come from one function of the instant (`slots_at`), so they always agree: the
shifts are the instants between consecutive changes, each labelled with what `slots_at` says
at its start, and runs of the same answer merged.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from crisis.domain.schedules.overrides import OnCallSlot, Override, apply_overrides
from crisis.domain.schedules.schedule import Schedule


@dataclass(frozen=True)
class Shift:
    staff_id: UUID
    start: datetime
    end: datetime
    layer: int | None  # 1-based; None for someone an override added
    override_id: UUID | None = None


def slots_at(
    schedule: Schedule, overrides: Sequence[Override], instant: datetime
) -> list[OnCallSlot]:
    """Who is on call at `instant`: the last layer with someone, then the overrides."""
    slots: list[OnCallSlot] = []
    closed = schedule.closed_days
    for number in range(schedule.positions, 0, -1):
        found = schedule.layer_at(number - 1, instant)
        staff = None if found is None else found[0].on_call(instant, found[1], closed)
        if staff is not None:
            slots = [OnCallSlot(staff, number)]
            break
    return apply_overrides(slots, overrides, instant)


def on_call(schedule: Schedule, overrides: Sequence[Override], instant: datetime) -> list[UUID]:
    """The staff on call at `instant`, layer's person first, then those overrides added."""
    return [slot.staff_id for slot in slots_at(schedule, overrides, instant)]


def shifts(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[Shift]:
    """Every shift overlapping `[start, end)`, clipped to it, ordered by start then layer."""
    if end <= start:
        return []
    edges = change_edges(schedule, overrides, start, end)
    open_shifts: dict[OnCallSlot, datetime] = {}
    done: list[Shift] = []
    for begin in edges[:-1]:
        current = set(slots_at(schedule, overrides, begin))
        for slot in [s for s in open_shifts if s not in current]:
            done.append(_shift(slot, open_shifts.pop(slot), begin))
        for slot in current:
            open_shifts.setdefault(slot, begin)
    done.extend(_shift(slot, since, end) for slot, since in open_shifts.items())
    return sorted(
        done, key=lambda s: (s.start, s.layer or 0, str(s.staff_id), str(s.override_id or ""))
    )


def change_edges(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[datetime]:
    """`start`, every instant in `(start, end)` where the answer may change (handoffs, window
    edges, override edges, the end of a layer kept running by an edit), and `end`: between two
    of them `slots_at` answers the same."""
    changes: set[datetime] = set()
    for layer in schedule.layers:
        changes |= layer.changes(start, end, schedule.zone, schedule.closed_days)
    for kept in schedule.running:  # a superset: its own edges after `until` change nothing
        if start < kept.until < end:
            changes.add(kept.until)
        if kept.layer is not None and start < kept.until:
            changes |= kept.layer.changes(
                start, min(end, kept.until), kept.zone, schedule.closed_days
            )
    for override in overrides:
        changes |= {at for at in (override.start, override.end) if start < at < end}
    return [start, *sorted(changes), end]


def _shift(slot: OnCallSlot, start: datetime, end: datetime) -> Shift:
    return Shift(slot.staff_id, start, end, slot.layer, slot.override_id)
