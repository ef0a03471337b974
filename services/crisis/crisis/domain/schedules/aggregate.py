"""The Schedule aggregate: its definition and its overrides, as a stream of events.

`decide_*` functions say what happens (events) or raise `ScheduleError`; `evolve` applies one
event. The public contract has no schedule events: these stay in crisis's event store.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from crisis.domain.schedules.edits import ApplyFrom, apply_edit
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.schedule import Schedule


@dataclass(frozen=True)
class ScheduleDefined:
    """The schedule was created (first event) or its definition replaced (PUT)."""

    schedule: Schedule
    at: datetime


@dataclass(frozen=True)
class OverrideAdded:
    override: Override
    at: datetime


@dataclass(frozen=True)
class OverrideRemoved:
    override_id: UUID
    at: datetime


ScheduleEvent = ScheduleDefined | OverrideAdded | OverrideRemoved


@dataclass(frozen=True)
class ScheduleState:
    schedule: Schedule
    overrides: tuple[Override, ...] = ()

    def override(self, override_id: UUID) -> Override | None:
        return next((o for o in self.overrides if o.override_id == override_id), None)


class ScheduleError(Exception):
    """A command the schedule refuses."""


class UnknownOverride(ScheduleError):
    pass


class SiteMismatch(ScheduleError):
    """A schedule belongs to one site for good."""


def decide_define(
    state: ScheduleState | None,
    schedule: Schedule,
    now: datetime,
    apply_from: ApplyFrom | datetime = ApplyFrom.NOW,
) -> list[ScheduleEvent]:
    """The event carries the layers kept running, worked out here from `now`, so a replay of
    the stream never depends on when it runs."""
    if state is not None and state.schedule.site_id != schedule.site_id:
        raise SiteMismatch(f"schedule {schedule.schedule_id} belongs to another site")
    before = state.schedule if state else None
    return [ScheduleDefined(apply_edit(before, schedule, now, apply_from), now)]


def decide_add_override(
    state: ScheduleState, override: Override, now: datetime
) -> list[ScheduleEvent]:
    if state.override(override.override_id) is not None:
        return []  # the same override again
    return [OverrideAdded(override, now)]


def decide_remove_override(
    state: ScheduleState, override_id: UUID, now: datetime
) -> list[ScheduleEvent]:
    if state.override(override_id) is None:
        raise UnknownOverride(f"schedule has no override {override_id}")
    return [OverrideRemoved(override_id, now)]


def evolve(state: ScheduleState | None, event: ScheduleEvent) -> ScheduleState:
    match event:
        case ScheduleDefined():
            return ScheduleState(event.schedule, state.overrides if state else ())
        case OverrideAdded():
            assert state is not None, "an override before its schedule"
            return replace(state, overrides=(*state.overrides, event.override))
        case OverrideRemoved():
            assert state is not None, "an override before its schedule"
            kept = tuple(o for o in state.overrides if o.override_id != event.override_id)
            return replace(state, overrides=kept)


def fold(
    events: Iterable[ScheduleEvent], state: ScheduleState | None = None
) -> ScheduleState | None:
    """`state` after `events` (from nothing: the schedule its stored events describe)."""
    for event in events:
        state = evolve(state, event)
    return state
