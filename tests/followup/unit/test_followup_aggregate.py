from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, GoalHorizon, RiskLevel
from followup.domain import followup
from followup.domain.errors import FollowUpAlreadyClosed, FollowUpNotScheduled
from followup.domain.followup import (
    Cancel,
    CancelReason,
    Complete,
    FallDue,
    Plan,
    Progress,
    Status,
    decide,
    evolve,
    fold,
)

NOW = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


def plan_command() -> Plan:
    return Plan(
        uuid4(),
        uuid4(),
        uuid4(),
        FollowUpKind.CHECKIN,
        NOW + timedelta(days=7),
        GoalHorizon.SHORT_TERM,
        uuid4(),
    )


def planned() -> followup.FollowUp:
    state = fold(list(decide(None, plan_command(), NOW)))
    assert state is not None
    return state


def apply(state: followup.FollowUp, command: followup.Command) -> followup.FollowUp:
    for event in decide(state, command, NOW):
        state = evolve(state, event)
    return state


def test_a_planned_follow_up_is_scheduled_at_version_1() -> None:
    state = planned()
    assert state.status is Status.SCHEDULED
    assert state.version == 1


def test_planning_the_same_follow_up_twice_changes_nothing() -> None:
    state = planned()
    command = Plan(state.id, state.client_id, state.site_id, state.kind, state.due_at)
    assert decide(state, command, NOW) == []


def test_a_due_follow_up_can_be_completed_with_its_outcome() -> None:
    state = apply(planned(), FallDue())
    assert state.status is Status.DUE
    done = apply(
        state, Complete(FollowUpOutcome.REACHED, Progress("slept better"), 4, RiskLevel.LOW)
    )
    assert (done.status, done.outcome, done.satisfaction, done.version) == (
        Status.COMPLETED,
        FollowUpOutcome.REACHED,
        4,
        3,
    )
    assert done.progress == Progress("slept better")


@pytest.mark.parametrize(
    "closing", [Cancel(CancelReason.PAUSED), Complete(FollowUpOutcome.DECLINED)]
)
def test_completing_a_closed_follow_up_is_refused(closing: followup.Command) -> None:
    state = apply(planned(), closing)
    with pytest.raises(FollowUpAlreadyClosed):
        decide(state, Complete(FollowUpOutcome.REACHED), NOW)


def test_only_a_scheduled_follow_up_falls_due() -> None:
    state = apply(planned(), FallDue())
    with pytest.raises(FollowUpNotScheduled):
        decide(state, FallDue(), NOW)


def test_cancelling_a_closed_follow_up_is_a_no_op() -> None:
    state = apply(planned(), Complete(FollowUpOutcome.NOT_REACHED))
    assert decide(state, Cancel(CancelReason.EPISODE_CLOSED), NOW) == []


def test_stored_events_read_back_to_the_same_state() -> None:
    events: list[followup.Event] = list(decide(None, plan_command(), NOW))
    current = fold(events)
    commands: list[followup.Command] = [
        FallDue(),
        Complete(FollowUpOutcome.REACHED, Progress(None, "work", "walk"), 5, RiskLevel.HIGH),
    ]
    for command in commands:
        assert current is not None
        new = decide(current, command, NOW)
        events += new
        for event in new:
            current = evolve(current, event)
    restored = fold([followup.from_record(*followup.to_record(e)) for e in events])
    assert restored == current
    assert restored is not None
    assert restored.status is Status.COMPLETED
