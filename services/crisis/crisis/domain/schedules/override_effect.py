"""Where an override changes nothing, and why: said in the answer that accepts it.

Overrides apply in the order entered, at each instant, to whoever is on call at that instant
after the earlier ones: `replaces` names a person, not a slot. So "C replaces A" entered after
"B replaces A" finds B, not A, in A's place and changes nothing there (replacing B would), and
an added person already on call adds nobody. Those stretches are named; so is a replacement of
someone who is not on call at any time of it. A replaced person merely off shift for part of
the override is what a replacement means (it covers their shifts only) and is not named.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from uuid import UUID

from crisis.domain.schedules.oncall import change_edges, slots_at
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.schedule import Schedule

MAX_WARNINGS = 10


class Why(StrEnum):
    STOOD_IN = "stood_in"  # an earlier override already put someone in the replaced's place
    ALREADY_ON_CALL = "already_on_call"  # the added person is on call anyway
    UNDONE_LATER = "undone_later"  # overrides entered after it give the same answer back
    NEVER_ON_CALL = "never_on_call"  # the replaced person has no shift in the whole interval


@dataclass(frozen=True)
class NoEffect:
    start: datetime
    end: datetime
    why: Why
    stand_in: UUID | None = None  # STOOD_IN: who is there instead, and by which override
    via: UUID | None = None


def where_ineffective(
    schedule: Schedule, overrides: Sequence[Override], override_id: UUID
) -> list[NoEffect]:
    """The stretches of the override's `[start, end)` where the schedule answers the same with
    and without it (`overrides` in the order entered, the override among them)."""
    index = next(i for i, o in enumerate(overrides) if o.override_id == override_id)
    target, earlier = overrides[index], overrides[:index]
    others = [*earlier, *overrides[index + 1 :]]
    edges = change_edges(schedule, overrides, target.start, target.end)
    found: list[NoEffect] = []
    for begin, finish in pairwise(edges):
        if _people(schedule, overrides, begin) != _people(schedule, others, begin):
            continue
        gap = _why(schedule, earlier, target, begin, finish)
        if found and found[-1].end == begin and _same(found[-1], gap):
            gap = NoEffect(found.pop().start, finish, gap.why, gap.stand_in, gap.via)
        found.append(gap)
    if target.replaces is not None and _never_on_call(found, target):
        return [NoEffect(target.start, target.end, Why.NEVER_ON_CALL)]
    return [gap for gap in found if gap.why is not Why.NEVER_ON_CALL]


def _people(schedule: Schedule, overrides: Sequence[Override], at: datetime) -> set[UUID]:
    return {slot.staff_id for slot in slots_at(schedule, overrides, at)}


def _why(
    schedule: Schedule,
    earlier: Sequence[Override],
    target: Override,
    start: datetime,
    end: datetime,
) -> NoEffect:
    before = slots_at(schedule, earlier, start)
    if target.replaces is None:
        on_call = any(slot.staff_id == target.staff_id for slot in before)
        return NoEffect(start, end, Why.ALREADY_ON_CALL if on_call else Why.UNDONE_LATER)
    if any(slot.staff_id == target.replaces for slot in before):
        return NoEffect(start, end, Why.UNDONE_LATER)
    for layer_slot in slots_at(schedule, [], start):
        if layer_slot.staff_id != target.replaces:
            continue
        stand_in = next((s for s in before if s.layer == layer_slot.layer and s.override_id), None)
        if stand_in is not None:
            return NoEffect(start, end, Why.STOOD_IN, stand_in.staff_id, stand_in.override_id)
    return NoEffect(start, end, Why.NEVER_ON_CALL)  # off shift here: fine unless everywhere


def _same(a: NoEffect, b: NoEffect) -> bool:
    return (a.why, a.stand_in, a.via) == (b.why, b.stand_in, b.via)


def _never_on_call(found: list[NoEffect], target: Override) -> bool:
    """The whole override is one stretch where the replaced person is simply not on call."""
    return (
        len(found) == 1
        and found[0].why is Why.NEVER_ON_CALL
        and (found[0].start, found[0].end) == (target.start, target.end)
    )


def override_warnings(
    schedule: Schedule, overrides: Sequence[Override], override_id: UUID
) -> list[str]:
    """`where_ineffective` as lines an operator reads (at most MAX_WARNINGS, then a count)."""
    override = next(o for o in overrides if o.override_id == override_id)
    gaps = where_ineffective(schedule, overrides, override_id)
    lines = [_line(gap, override) for gap in gaps[:MAX_WARNINGS]]
    if len(gaps) > MAX_WARNINGS:
        lines.append(f"and {len(gaps) - MAX_WARNINGS} more such intervals")
    return lines


def _line(gap: NoEffect, override: Override) -> str:
    span = f"{_instant(gap.start)} to {_instant(gap.end)}"
    match gap.why:
        case Why.STOOD_IN:
            return (
                f"{span}: no effect, {gap.stand_in} already stands in for {override.replaces}"
                f" (override {gap.via}); to take that shift, replace {gap.stand_in}"
            )
        case Why.ALREADY_ON_CALL:
            return f"{span}: no effect, {override.staff_id} is on call already"
        case Why.UNDONE_LATER:
            return f"{span}: no effect, overrides entered after this one undo it"
        case Why.NEVER_ON_CALL:
            return f"{span}: no effect, {override.replaces} is not on call at any time of it"


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
