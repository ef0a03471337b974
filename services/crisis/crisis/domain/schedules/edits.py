"""A rotation edit that keeps the running shifts: `apply_from` `next_handoff` on PUT, or
an edit from a given instant (`apply_from` an RFC 3339 instant, an extension).

Layers are matched by position (layer 1 of the old definition with layer 1 of the new). At
each position whose layer changes, whatever answers there now keeps answering until its own
next handoff (a position that had nobody: until the new layer's next handoff); from then on the
new layer applies, even mid-turn of its own rotation. Overrides are untouched.

From an instant: until that instant the old definition stands at every position the edit
changes (a layer an earlier `next_handoff` edit keeps running runs on, up to the instant at
most); from the instant the new definition applies, mid-turn or not. A later PUT replaces a
pending edit: what is kept is always worked out from the definition as it stands.
"""

import enum
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from crisis.domain.policy import FieldError
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.schedule import RunningLayer, Schedule

MAX_EDIT_AHEAD = timedelta(days=366)
"""How far ahead an edit from an instant may be: at most a year (a leap year's day aside)."""


class ApplyFrom(enum.StrEnum):
    NOW = "now"  # the whole definition at once (version 1's behaviour)
    NEXT_HANDOFF = "next_handoff"


def apply_from_errors(apply_from: ApplyFrom | datetime, now: datetime) -> list[FieldError]:
    """An instant must be in the future, and at most a year ahead."""
    if isinstance(apply_from, ApplyFrom):
        return []
    if apply_from <= now:
        return [FieldError("apply_from", "an instant must be in the future")]
    if apply_from - now > MAX_EDIT_AHEAD:
        return [FieldError("apply_from", "an instant at most a year ahead")]
    return []


def apply_edit(
    before: Schedule | None, after: Schedule, now: datetime, apply_from: ApplyFrom | datetime
) -> Schedule:
    """`after` as it is stored: with the layers that keep running until their next handoff,
    or until the instant the edit applies from."""
    if before is None or apply_from is ApplyFrom.NOW:
        return replace(after, running=())
    if isinstance(apply_from, datetime):
        return replace(after, running=_kept_until(before, after, now, apply_from))
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


def _kept_until(
    before: Schedule, after: Schedule, now: datetime, instant: datetime
) -> tuple[RunningLayer, ...]:
    """At each position the edit changes, what answers there before `instant`: the layers an
    earlier edit keeps running (cut at `instant`), then the old definition's own layer (none
    when the position had nobody) up to `instant`."""
    running: list[RunningLayer] = []
    for position in range(max(before.positions, len(after.layers))):
        own = (before.layers[position], before.zone) if position < len(before.layers) else None
        new = (after.layers[position], after.zone) if position < len(after.layers) else None
        still = sorted(
            (r for r in before.running if r.position == position and now < r.until),
            key=lambda r: r.until,
        )
        if _same(own, new) and not still:
            continue  # the same layer in the same zone: nothing to keep
        running += [replace(r, until=min(r.until, instant)) for r in still]
        if still and still[-1].until >= instant:
            continue  # what runs now lasts until the instant: the old layer never answers
        zone = (own or new or (None, after.zone))[1]
        running.append(RunningLayer(position, None if own is None else own[0], zone.key, instant))
    return tuple(running)


def next_handoff(layer: Layer, zone: ZoneInfo, now: datetime) -> datetime:
    """The layer's first handoff strictly after `now`."""
    turn = layer.rotation.turn_at(now, zone)
    return layer.rotation.handoff_at(0 if turn is None else turn + 1, zone)


def _same(a: tuple[Layer, ZoneInfo] | None, b: tuple[Layer, ZoneInfo] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and a[1].key == b[1].key
