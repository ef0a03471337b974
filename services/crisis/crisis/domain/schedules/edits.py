"""A rotation edit that keeps the running shifts: `apply_from` `next_handoff` on PUT.

Layers are matched by position (layer 1 of the old definition with layer 1 of the new). At
each position whose layer changes, whatever answers there now keeps answering until its own
next handoff (a position that had nobody: until the new layer's next handoff); from then on the
new layer applies, even mid-turn of its own rotation. Overrides are untouched.
"""

import enum
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.schedule import RunningLayer, Schedule


class ApplyFrom(enum.StrEnum):
    NOW = "now"  # the whole definition at once (version 1's behaviour)
    NEXT_HANDOFF = "next_handoff"


def apply_edit(
    before: Schedule | None, after: Schedule, now: datetime, apply_from: ApplyFrom
) -> Schedule:
    """`after` as it is stored: with the layers that keep running until their next handoff."""
    if before is None or apply_from is ApplyFrom.NOW:
        return replace(after, running=())
    running = []
    for position in range(max(before.positions, len(after.layers))):
        current = before.layer_at(position, now)
        new = (after.layers[position], after.zone) if position < len(after.layers) else None
        if _same(current, new):
            continue  # the same layer in the same zone: nothing to keep
        clock = current or new
        assert clock is not None  # both None are the same
        kept = None if current is None else current[0]
        running.append(RunningLayer(position, kept, clock[1].key, next_handoff(*clock, now)))
    return replace(after, running=tuple(running))


def next_handoff(layer: Layer, zone: ZoneInfo, now: datetime) -> datetime:
    """The layer's first handoff strictly after `now`."""
    turn = layer.rotation.turn_at(now, zone)
    return layer.rotation.handoff_at(0 if turn is None else turn + 1, zone)


def _same(a: tuple[Layer, ZoneInfo] | None, b: tuple[Layer, ZoneInfo] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and a[1].key == b[1].key
