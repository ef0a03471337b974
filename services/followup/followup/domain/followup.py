"""The FollowUp aggregate: one planned contact with a client, from planning to its outcome.

`decide(state, command, now)` returns the aggregate's own events (never the public ones);
`evolve(state, event)` folds them. Both are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, GoalHorizon, RiskLevel
from counseling_shared.fast_replace import constructor, replace
from counseling_shared.stored_ids import parse_uuid
from followup.domain.errors import FollowUpAlreadyClosed, FollowUpNotScheduled
from followup.domain.records import plain_fields


class Status(StrEnum):
    SCHEDULED = "scheduled"
    DUE = "due"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (Status.SCHEDULED, Status.DUE)


class CancelReason(StrEnum):
    """Why a follow-up was withdrawn (a code, so it may be logged and stored)."""

    SESSION_COMPLETED = "session_completed"
    EPISODE_CLOSED = "episode_closed"
    PAUSED = "paused"
    SUPERSEDED = "superseded"
    REENGAGED = "reengaged"  # a session after the closure: post-closure check-ins withdrawn
    COOLOFF = "cooloff"  # fell due in a cool-off: planned again at its end (regularity)
    RESCHEDULED = "rescheduled"  # a reminder of an appointment that moved
    APPOINTMENT_CANCELLED = "appointment_cancelled"  # a reminder of a cancelled appointment
    STARTED = "started"  # a reminder whose appointment had begun when it fell due


@dataclass(frozen=True)
class Progress:
    """The client's own words about their progress: kept only in followup's database."""

    achieved: str | None = None
    challenges: str | None = None
    next_steps: str | None = None


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    followup_id: UUID
    client_id: UUID
    site_id: UUID
    kind: FollowUpKind
    due_at: datetime
    goal_horizon: GoalHorizon | None = None
    session_id: UUID | None = None
    counselor_id: UUID | None = None
    appointment_start: datetime | None = None
    manage_url: str | None = None


@dataclass(frozen=True)
class FallDue:
    pass


@dataclass(frozen=True)
class Cancel:
    reason: CancelReason


@dataclass(frozen=True)
class Complete:
    outcome: FollowUpOutcome
    progress: Progress | None = None
    satisfaction: int | None = None
    risk_level: RiskLevel | None = None


Command = Plan | FallDue | Cancel | Complete


# --- events (internal, stored in the event store) ------------------------------------------


@dataclass(frozen=True)
class Planned:
    followup_id: UUID
    client_id: UUID
    site_id: UUID
    kind: FollowUpKind
    due_at: datetime
    goal_horizon: GoalHorizon | None
    session_id: UUID | None
    at: datetime
    counselor_id: UUID | None = None  # the session's counselor (absent before contract v2)
    appointment_start: datetime | None = None  # a reminder's appointment
    # A reminder's signed confirm-or-cancel link from booking (its `manage_url`).
    manage_url: str | None = None


@dataclass(frozen=True)
class FellDue:
    at: datetime


@dataclass(frozen=True)
class Withdrawn:
    reason: CancelReason
    at: datetime


@dataclass(frozen=True)
class Completed:
    outcome: FollowUpOutcome
    progress: Progress | None
    satisfaction: int | None
    risk_level: RiskLevel | None
    at: datetime


Event = Planned | FellDue | Withdrawn | Completed
_planned = constructor(Planned)  # Planned(...), cheaper: a rebuild replays every one


@dataclass(frozen=True)
class FollowUp:
    """State of one follow-up. `version` is its event-stream version."""

    id: UUID
    client_id: UUID
    site_id: UUID
    kind: FollowUpKind
    due_at: datetime
    status: Status
    version: int
    goal_horizon: GoalHorizon | None = None
    session_id: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    cancel_reason: CancelReason | None = None
    outcome: FollowUpOutcome | None = None
    progress: Progress | None = None
    satisfaction: int | None = None
    risk_level: RiskLevel | None = None
    completed_at: datetime | None = None
    counselor_id: UUID | None = None
    appointment_start: datetime | None = None
    manage_url: str | None = None

    @property
    def stream_id(self) -> str:
        return stream_id(self.id)


_followup = constructor(FollowUp)  # FollowUp(...), cheaper: a rebuild makes one per stream


def stream_id(followup_id: UUID) -> str:
    return f"followup-{followup_id}"


def decide(state: FollowUp | None, command: Command, now: datetime) -> list[Event]:
    if isinstance(command, Plan):
        if state is not None:
            return []  # already planned: planning is idempotent
        return [
            Planned(
                command.followup_id,
                command.client_id,
                command.site_id,
                command.kind,
                command.due_at,
                command.goal_horizon,
                command.session_id,
                now,
                command.counselor_id,
                command.appointment_start,
                command.manage_url,
            )
        ]
    assert state is not None, "only planning starts a follow-up"
    if isinstance(command, FallDue):
        if state.status is not Status.SCHEDULED:
            raise FollowUpNotScheduled(f"follow-up {state.id} is {state.status}")
        return [FellDue(now)]
    if isinstance(command, Cancel):
        if not state.status.is_open:
            return []
        return [Withdrawn(command.reason, now)]
    if not state.status.is_open:
        raise FollowUpAlreadyClosed(state.id, state.status)
    return [
        Completed(command.outcome, command.progress, command.satisfaction, command.risk_level, now)
    ]


def evolve(state: FollowUp | None, event: Event) -> FollowUp:
    if isinstance(event, Planned):
        return _followup(
            id=event.followup_id,
            client_id=event.client_id,
            site_id=event.site_id,
            kind=event.kind,
            due_at=event.due_at,
            status=Status.SCHEDULED,
            version=1,
            goal_horizon=event.goal_horizon,
            session_id=event.session_id,
            created_at=event.at,
            updated_at=event.at,
            counselor_id=event.counselor_id,
            appointment_start=event.appointment_start,
            manage_url=event.manage_url,
        )
    assert state is not None
    state = replace(state, version=state.version + 1, updated_at=event.at)
    if isinstance(event, FellDue):
        return replace(state, status=Status.DUE)
    if isinstance(event, Withdrawn):
        return replace(state, status=Status.CANCELLED, cancel_reason=event.reason)
    return replace(
        state,
        status=Status.COMPLETED,
        outcome=event.outcome,
        progress=event.progress,
        satisfaction=event.satisfaction,
        risk_level=event.risk_level,
        completed_at=event.at,
    )


def fold(events: list[Event]) -> FollowUp | None:
    state: FollowUp | None = None
    for event in events:
        state = evolve(state, event)
    return state


# --- storage form --------------------------------------------------------------------------

EVENT_TYPES: dict[type[Any], str] = {
    Planned: "FollowUpPlanned",
    FellDue: "FollowUpFellDue",
    Withdrawn: "FollowUpWithdrawn",
    Completed: "FollowUpOutcomeRecorded",
}


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """The event store's (type, data) for an event; instants as ISO strings."""
    data = {
        key: dict(value.__dict__) if isinstance(value, Progress) else value
        for key, value in plain_fields(event).items()
    }
    return EVENT_TYPES[type(event)], data


def from_record(event_type: str, data: dict[str, Any]) -> Event:
    at = datetime.fromisoformat(data["at"])
    if event_type == "FollowUpPlanned":
        return _planned(
            parse_uuid(data["followup_id"]),
            parse_uuid(data["client_id"]),
            parse_uuid(data["site_id"]),
            FollowUpKind(data["kind"]),
            datetime.fromisoformat(data["due_at"]),
            GoalHorizon(data["goal_horizon"]) if data.get("goal_horizon") else None,
            parse_uuid(data["session_id"]) if data.get("session_id") else None,
            at,
            parse_uuid(data["counselor_id"]) if data.get("counselor_id") else None,
            (
                datetime.fromisoformat(data["appointment_start"])
                if data.get("appointment_start")
                else None
            ),
            data.get("manage_url"),
        )
    if event_type == "FollowUpFellDue":
        return FellDue(at)
    if event_type == "FollowUpWithdrawn":
        return Withdrawn(CancelReason(data["reason"]), at)
    if event_type == "FollowUpOutcomeRecorded":
        progress = data.get("progress")
        return Completed(
            FollowUpOutcome(data["outcome"]),
            Progress(**progress) if progress else None,
            data.get("satisfaction"),
            RiskLevel(data["risk_level"]) if data.get("risk_level") else None,
            at,
        )
    raise ValueError(f"unknown follow-up event type {event_type!r}")
