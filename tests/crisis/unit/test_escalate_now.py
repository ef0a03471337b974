""" "Escalate now": a paged staff member leaves the current step at once, exactly as its
ack_timeout passing would (skipped levels, repeat, fallback, exhaustion), and only they may."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from counseling_shared import events as public
from counseling_shared.codes import AlertOutcome, RiskLevel, RiskSource
from crisis.application.publishing import Paging, public_events
from crisis.domain.alert import (
    Acknowledge,
    Alert,
    AlertResolved,
    AlreadyAcknowledged,
    AlreadyEscalated,
    EscalateNow,
    EscalationDue,
    NothingToEscalate,
    NotPaged,
    ReceiveFlag,
    Resolve,
    decide,
    fold,
    open_alert,
)
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    AlertEvent,
    EscalatedByStaff,
    PageRequested,
    kind_of,
    timeline_details,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(seconds=7)  # well before level 1's 60 s


def policy(
    *levels: PolicyLevel, repeat: int = 0, fallback: tuple[UUID, ...] = ()
) -> EscalationPolicy:
    return EscalationPolicy(levels, repeat, fallback)


def level(*staff: UUID, schedules: tuple[UUID, ...] = ()) -> PolicyLevel:
    return PolicyLevel(staff, timedelta(seconds=60), schedules)


def opened(p: EscalationPolicy) -> Alert:
    flag = ReceiveFlag(uuid4(), RiskLevel.HIGH, RiskSource.INTEGRATION, p)
    alert = fold(None, open_alert(uuid4(), uuid4(), uuid4(), flag, T0))
    assert alert is not None
    return alert


def then(alert: Alert, events: list[AlertEvent]) -> Alert:
    after = fold(alert, events)
    assert after is not None
    return after


def paged_at_level_1(alert: Alert) -> UUID:
    return next(p.staff_id for p in alert.pages if p.level == 1)


def test_escalating_pages_the_next_level_now_as_the_deadline_passing_would() -> None:
    first, second = uuid4(), uuid4()
    alert = opened(policy(level(first), level(second)))

    events = decide(alert, EscalateNow(first), LATER)

    assert events[0] == EscalatedByStaff(first, 1, 0, LATER)
    assert events[1:] == decide(alert, EscalationDue(Step(0, 1)), LATER)
    after = then(alert, events)
    assert after.step == Step(0, 2)
    assert after.escalation_due_at == LATER + timedelta(seconds=60)  # level 2's own clock
    assert [p.staff_id for p in after.pages if p.level == 2] == [second]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        # an empty level 2 (its schedule has nobody on call) is skipped at once
        ("skip", ["escalated", "oncall_resolved", "level_skipped", "escalated", "page_requested"]),
        # past the last level, the chain starts again
        ("repeat", ["chain_repeated", "page_requested"]),
        # past the last level of the last pass: the fallback staff are paged
        ("fallback", ["exhausted", "page_requested"]),
    ],
)
def test_the_same_rules_as_a_missed_deadline(shape: str, expected: list[str]) -> None:
    first, third, spare = uuid4(), uuid4(), uuid4()
    if shape == "skip":
        p = policy(level(first), level(schedules=(uuid4(),)), level(third))
    elif shape == "repeat":
        p = policy(level(first), repeat=1)
    else:
        p = policy(level(first), fallback=(spare,))
    alert = opened(p)

    events = decide(alert, EscalateNow(first), LATER)

    assert [kind_of(e) for e in events] == ["escalated_by_staff", *expected]
    assert events[1:] == decide(alert, EscalationDue(Step(0, 1)), LATER)


def test_the_public_events_are_a_new_levels_and_alert_exhausted_as_before() -> None:
    first, spare = uuid4(), uuid4()
    alert = opened(policy(level(first), fallback=(spare,)))

    events = decide(alert, EscalateNow(first), LATER)
    announced = public_events(alert, events, Paging("https://crisis.test"))

    assert [type(e) for e in announced] == [public.AlertExhausted, public.PageRequested]
    assert then(alert, events).exhausted


def test_the_old_deadline_is_void_after_escalating() -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    alert = opened(policy(level(first), level(second), level(third)))
    after = then(alert, decide(alert, EscalateNow(first), LATER))

    # level 1's timer fires at its old instant: the alert moved on, nothing happens
    assert decide(after, EscalationDue(Step(0, 1)), T0 + timedelta(seconds=60)) == []
    assert after.deadline is not None
    assert after.deadline.step == Step(0, 2)


def test_only_a_staff_member_paged_for_the_alert_may_escalate() -> None:
    first, second = uuid4(), uuid4()
    alert = opened(policy(level(first), level(second)))

    with pytest.raises(NotPaged):
        decide(alert, EscalateNow(second), LATER)  # level 2 was not paged yet
    after = then(alert, decide(alert, EscalateNow(first), LATER))
    # paged at an earlier level is enough: level 1 may escalate level 2 as well
    assert [kind_of(e) for e in decide(after, EscalateNow(first), LATER)][:1] == [
        "escalated_by_staff"
    ]


def test_an_acknowledged_or_resolved_alert_refuses() -> None:
    first, second = uuid4(), uuid4()
    alert = opened(policy(level(first), level(second)))
    taken = then(alert, decide(alert, Acknowledge(first), LATER))
    resolved = then(taken, decide(taken, Resolve(first, AlertOutcome.SAFETY_PLAN), LATER))

    with pytest.raises(AlreadyAcknowledged):
        decide(taken, EscalateNow(first), LATER)
    with pytest.raises(AlertResolved):
        decide(resolved, EscalateNow(first), LATER)


def test_a_stale_step_escalates_nothing_more() -> None:
    """A double tap, or the timer firing first: escalating from level 1 once the alert is at
    level 2 must not skip level 2."""
    first, second, third = uuid4(), uuid4(), uuid4()
    alert = opened(policy(level(first), level(second), level(third)))
    after = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + timedelta(seconds=60)))

    with pytest.raises(AlreadyEscalated) as refused:
        decide(after, EscalateNow(first, Step(0, 1)), LATER)
    assert refused.value.step == Step(0, 2)
    assert decide(after, EscalateNow(first, Step(0, 2)), LATER)[0] == EscalatedByStaff(
        first, 2, 0, LATER
    )


def test_an_exhausted_alert_has_nothing_to_escalate() -> None:
    first, spare = uuid4(), uuid4()
    alert = opened(policy(level(first), fallback=(spare,)))
    exhausted = then(alert, decide(alert, EscalateNow(first), LATER))

    with pytest.raises(NothingToEscalate):
        decide(exhausted, EscalateNow(spare), LATER)


def test_the_timeline_names_who_escalated_with_ids_only() -> None:
    first = uuid4()
    alert = opened(policy(level(first), level(uuid4())))

    asked = decide(alert, EscalateNow(first), LATER)[0]

    assert kind_of(asked) == "escalated_by_staff"
    assert timeline_details(asked) == {"staff_id": first, "level": 1, "cycle": 0}
    assert all(isinstance(e, PageRequested) for e in decide(alert, EscalateNow(first), LATER)[2:])
