"""Staff booking deactivated are skipped when their level is paged, and the timeline says so."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from counseling_shared.codes import RiskLevel, RiskSource
from crisis.domain.alert import EscalationDue, ReceiveFlag, decide, fold, open_alert
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    STAFF_DEACTIVATED,
    LevelSkipped,
    PageRequested,
    PageSkipped,
    kind_of,
    timeline_details,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEFT, STAYED, LEVEL_TWO = uuid4(), uuid4(), uuid4()
POLICY = EscalationPolicy(
    (
        PolicyLevel((LEFT, STAYED), timedelta(seconds=30)),
        PolicyLevel((LEVEL_TWO,), timedelta(seconds=30)),
    )
)


def _flag(inactive: frozenset[UUID]) -> ReceiveFlag:
    return ReceiveFlag(uuid4(), RiskLevel.HIGH, RiskSource.BOOKING, POLICY, inactive_staff=inactive)


def test_a_deactivated_member_of_level_one_is_skipped_and_the_rest_are_paged() -> None:
    events = open_alert(uuid4(), uuid4(), uuid4(), _flag(frozenset({LEFT})), T0)

    paged = [e.staff_id for e in events if isinstance(e, PageRequested)]
    [skipped] = [e for e in events if isinstance(e, PageSkipped)]
    assert paged == [STAYED]
    assert (skipped.staff_id, skipped.level, skipped.reason) == (LEFT, 1, STAFF_DEACTIVATED)
    assert kind_of(skipped) == "page_skipped"
    assert timeline_details(skipped)["staff_id"] == LEFT
    alert = fold(None, events)
    assert alert is not None
    assert [p.staff_id for p in alert.pages] == [STAYED]


def test_a_level_whose_only_member_was_deactivated_since_is_skipped_at_once() -> None:
    opened = open_alert(uuid4(), uuid4(), uuid4(), _flag(frozenset()), T0)
    alert = fold(None, opened)
    assert alert is not None

    later = T0 + timedelta(seconds=31)
    due = EscalationDue(Step(0, 1), inactive_staff=frozenset({LEVEL_TWO}))
    events = decide(alert, due, later)

    # Level 2 has nobody left to page: skipped at once, the chain goes on to its next pass.
    assert [kind_of(e) for e in events] == [
        "escalated",
        "page_skipped",
        "level_skipped",
        "chain_repeated",
        "page_requested",
        "page_requested",
    ]
    assert [e.staff_id for e in events if isinstance(e, PageSkipped)] == [LEVEL_TWO]
    [skipped] = [e for e in events if isinstance(e, LevelSkipped)]
    assert (skipped.level, skipped.cycle) == (2, 0)
    assert [(e.staff_id, e.level, e.cycle) for e in events if isinstance(e, PageRequested)] == [
        (LEFT, 1, 1),
        (STAYED, 1, 1),
    ]
    moved = fold(alert, events)
    assert moved is not None
    assert moved.step == Step(1, 1)


def test_a_deactivated_person_a_schedule_has_on_call_is_skipped_and_the_named_staff_paged() -> None:
    rota, named, on_duty_but_left = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((named,), timedelta(seconds=30), (rota,)),))
    flag = ReceiveFlag(
        uuid4(),
        RiskLevel.HIGH,
        RiskSource.BOOKING,
        policy,
        on_call={rota: (on_duty_but_left,)},
        inactive_staff=frozenset({on_duty_but_left}),
    )

    events = open_alert(uuid4(), uuid4(), uuid4(), flag, T0)

    assert [e.staff_id for e in events if isinstance(e, PageRequested)] == [named]
    assert [e.staff_id for e in events if isinstance(e, PageSkipped)] == [on_duty_but_left]
    assert not [e for e in events if isinstance(e, LevelSkipped)]


def test_a_level_whose_on_call_people_are_all_deactivated_is_skipped_to_the_next() -> None:
    rota, on_duty_but_left, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (
            PolicyLevel((), timedelta(seconds=30), (rota,)),
            PolicyLevel((backup,), timedelta(seconds=30)),
        )
    )
    flag = ReceiveFlag(
        uuid4(),
        RiskLevel.HIGH,
        RiskSource.BOOKING,
        policy,
        on_call={rota: (on_duty_but_left,)},
        inactive_staff=frozenset({on_duty_but_left}),
    )

    events = open_alert(uuid4(), uuid4(), uuid4(), flag, T0)

    kinds = [kind_of(e) for e in events]
    assert kinds[kinds.index("oncall_resolved") :] == [
        "oncall_resolved",
        "page_skipped",
        "level_skipped",
        "escalated",
        "page_requested",
    ]
    assert [(e.staff_id, e.level) for e in events if isinstance(e, PageRequested)] == [(backup, 2)]
    alert = fold(None, events)
    assert alert is not None
    assert alert.current_level == 2
