"""Staff booking deactivated are skipped when their level is paged, and the timeline says so."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from counseling_shared.codes import RiskLevel, RiskSource
from crisis.domain.alert import EscalationDue, ReceiveFlag, decide, fold, open_alert
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    STAFF_DEACTIVATED,
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
    return ReceiveFlag(uuid4(), RiskLevel.HIGH, RiskSource.BOOKING, POLICY, inactive)


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


def test_a_member_deactivated_after_the_alert_opened_is_skipped_at_escalation() -> None:
    opened = open_alert(uuid4(), uuid4(), uuid4(), _flag(frozenset()), T0)
    alert = fold(None, opened)
    assert alert is not None

    later = T0 + timedelta(seconds=31)
    events = decide(alert, EscalationDue(Step(0, 1), frozenset({LEVEL_TWO})), later)

    assert not [e for e in events if isinstance(e, PageRequested)]
    assert [e.staff_id for e in events if isinstance(e, PageSkipped)] == [LEVEL_TWO]
    moved = fold(alert, events)
    assert moved is not None
    assert moved.current_level == 2
