"""An acknowledged alert is never silent: a rise in risk re-opens it and pages whoever took it
again, and (with the policy's `ack_expires_after`) so does an acknowledgement left unresolved.
"""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from counseling_shared import events as public
from counseling_shared.codes import (
    AlertOutcome,
    AlertReopenReason,
    AlertStatus,
    RiskLevel,
    RiskSource,
)
from crisis.application.publishing import Paging, public_events
from crisis.domain.alert import (
    AckExpired,
    Acknowledge,
    Alert,
    Deadline,
    EscalationDue,
    ReceiveFlag,
    Resolve,
    decide,
    fold,
    open_alert,
    page_id_for,
)
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    AlertEvent,
    Escalated,
    Exhausted,
    LevelRaised,
    PageRequested,
    PageSkipped,
    Reopened,
    kind_of,
)

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
L1, L2, FALLBACK = uuid4(), uuid4(), uuid4()
PAGING = Paging("http://crisis.test")


def policy(expires: timedelta | None = None, repeat: int = 0) -> EscalationPolicy:
    return EscalationPolicy(
        (PolicyLevel((L1,), 5 * MINUTE), PolicyLevel((L2,), 10 * MINUTE)),
        repeat,
        (FALLBACK,),
        expires,
    )


def flag(
    level: RiskLevel, in_force: EscalationPolicy | None, inactive: frozenset[UUID] = frozenset()
) -> ReceiveFlag:
    return ReceiveFlag(uuid4(), level, RiskSource.FOLLOWUP, in_force, {}, inactive)


def then(alert: Alert | None, events: list[AlertEvent]) -> Alert:
    after = fold(alert, events)
    assert after is not None
    return after


def acknowledged(
    frozen: EscalationPolicy | None, by: UUID, level: RiskLevel = RiskLevel.MODERATE
) -> Alert:
    """02:00 a moderate alert opens; 02:01 `by` acknowledges it (at level 1)."""
    alert = then(None, open_alert(uuid4(), uuid4(), uuid4(), flag(level, frozen), T0))
    return then(alert, decide(alert, Acknowledge(by), T0 + MINUTE))


def test_a_rise_in_risk_after_an_acknowledgement_reopens_and_pages_the_acknowledger() -> None:
    taker = uuid4()  # anyone of the site may take an alert: not named in the policy
    alert = acknowledged(policy(), taker)
    at = T0 + 40 * MINUTE  # 02:40 a check-in answer raises a high flag
    raising = flag(RiskLevel.HIGH, policy())

    events = decide(alert, raising, at)
    after = then(alert, events)

    page_id = page_id_for(alert.id, Step(0, 1), taker, 1)
    assert events[1:] == [
        LevelRaised(raising.flag_id, RiskLevel.MODERATE, RiskLevel.HIGH, at),
        Reopened(taker, AlertReopenReason.RISK_RAISED, 1, 0, at),
        PageRequested(page_id, taker, 1, 0, raising.flag_id, at),
    ]
    assert after.status is AlertStatus.OPEN
    assert after.risk_level is RiskLevel.HIGH
    assert after.acknowledged_by is None
    assert after.reopens == 1
    # A page of its own: the level-1 pages of the first round keep their ids.
    assert page_id not in {p.page_id for p in alert.pages}
    assert after.escalation_due_at == at + 5 * MINUTE
    assert after.deadline == Deadline("escalation", 1, Step(0, 1), at + 5 * MINUTE)


def test_integrations_hear_of_the_reopening_with_the_new_level_and_who_is_paged() -> None:
    taker = uuid4()
    alert = acknowledged(policy(), taker)

    events = decide(alert, flag(RiskLevel.IMMINENT, policy()), T0 + 40 * MINUTE)
    published = public_events(alert, events, PAGING)

    assert [type(e) for e in published] == [public.AlertReopened, public.PageRequested]
    reopened = published[0]
    assert isinstance(reopened, public.AlertReopened)
    assert reopened.level is RiskLevel.IMMINENT
    assert reopened.staff_id == taker
    assert reopened.reason is AlertReopenReason.RISK_RAISED
    assert reopened.current_level == 1
    page = published[1]
    assert isinstance(page, public.PageRequested)
    assert page.staff_id == taker
    assert page.risk_level is RiskLevel.IMMINENT


def test_no_second_acknowledgement_in_time_escalates_to_the_next_level() -> None:
    taker = uuid4()
    alert = acknowledged(policy(), taker)
    at = T0 + 40 * MINUTE
    reopened = then(alert, decide(alert, flag(RiskLevel.HIGH, policy()), at))

    # The timer of the first round (same step) is stale; the new round's fires.
    assert decide(reopened, EscalationDue(Step(0, 1), round=0), at + 5 * MINUTE) == []
    events = decide(reopened, EscalationDue(Step(0, 1), round=1), at + 5 * MINUTE)

    assert events[0] == Escalated(2, 0, at + 5 * MINUTE)
    assert [e.staff_id for e in events if isinstance(e, PageRequested)] == [L2]
    assert then(reopened, events).current_level == 2


def test_the_acknowledger_taking_it_again_stops_escalation_again() -> None:
    taker = uuid4()
    alert = acknowledged(policy(), taker)
    reopened = then(alert, decide(alert, flag(RiskLevel.HIGH, policy()), T0 + 40 * MINUTE))

    again = then(reopened, decide(reopened, Acknowledge(taker), T0 + 42 * MINUTE))

    assert again.status is AlertStatus.ACKNOWLEDGED
    assert again.acknowledged_by == taker
    assert again.deadline is None  # no ack_expires_after: nothing pending
    assert decide(again, EscalationDue(Step(0, 1), round=1), T0 + 45 * MINUTE) == []


def test_a_flag_that_does_not_raise_the_level_leaves_the_acknowledgement_alone() -> None:
    alert = acknowledged(policy(), uuid4(), RiskLevel.HIGH)

    for level in (RiskLevel.MODERATE, RiskLevel.HIGH):
        events = decide(alert, flag(level, policy()), T0 + 40 * MINUTE)
        assert [kind_of(e) for e in events] == ["flag_received"]


def test_an_open_alert_whose_risk_rises_is_not_paged_twice() -> None:
    """Escalation is running anyway: a raise records `level_raised` only, as before."""
    alert = then(
        None, open_alert(uuid4(), uuid4(), uuid4(), flag(RiskLevel.MODERATE, policy()), T0)
    )

    events = decide(alert, flag(RiskLevel.IMMINENT, policy()), T0 + MINUTE)

    assert [kind_of(e) for e in events] == ["flag_received", "level_raised"]


def test_a_second_rise_after_a_second_acknowledgement_is_another_round() -> None:
    taker = uuid4()
    alert = acknowledged(policy(), taker)
    alert = then(alert, decide(alert, flag(RiskLevel.HIGH, policy()), T0 + 40 * MINUTE))
    alert = then(alert, decide(alert, Acknowledge(taker), T0 + 41 * MINUTE))

    events = decide(alert, flag(RiskLevel.IMMINENT, policy()), T0 + 50 * MINUTE)

    pages = [e for e in events if isinstance(e, PageRequested)]
    assert [p.page_id for p in pages] == [page_id_for(alert.id, Step(0, 1), taker, 2)]
    assert then(alert, events).reopens == 2


def test_an_acknowledger_deactivated_since_is_skipped_and_the_next_level_paged_now() -> None:
    taker = uuid4()
    alert = acknowledged(policy(), taker)
    at = T0 + 40 * MINUTE

    events = decide(alert, flag(RiskLevel.HIGH, policy(), frozenset({taker})), at)

    kinds = [kind_of(e) for e in events]
    assert kinds[:4] == ["flag_received", "level_raised", "reopened", "page_skipped"]
    assert isinstance(events[3], PageSkipped)
    assert events[3].staff_id == taker
    assert events[4] == Escalated(2, 0, at)
    assert [e.staff_id for e in events if isinstance(e, PageRequested)] == [L2]


def test_an_exhausted_alert_taken_then_raised_runs_its_last_level_and_fallback_again() -> None:
    frozen = policy()
    alert = then(None, open_alert(uuid4(), uuid4(), uuid4(), flag(RiskLevel.HIGH, frozen), T0))
    alert = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + 5 * MINUTE))
    alert = then(alert, decide(alert, EscalationDue(Step(0, 2)), T0 + 15 * MINUTE))
    assert alert.exhausted
    taker = FALLBACK
    alert = then(alert, decide(alert, Acknowledge(taker), T0 + 16 * MINUTE))

    at = T0 + 30 * MINUTE
    reopened = then(alert, decide(alert, flag(RiskLevel.IMMINENT, frozen), at))
    assert not reopened.exhausted
    assert reopened.escalation_due_at == at + 10 * MINUTE  # the last level's ack_timeout

    events = decide(reopened, EscalationDue(Step(0, 2), round=1), at + 10 * MINUTE)
    assert isinstance(events[0], Exhausted)
    fallback_pages = [e for e in events if isinstance(e, PageRequested)]
    assert [p.staff_id for p in fallback_pages] == [FALLBACK]
    # Not the first fallback page's id: the pages table would refuse a second row with it.
    assert fallback_pages[0].page_id not in {p.page_id for p in reopened.pages}


def test_an_alert_without_a_policy_pages_its_acknowledger_outside_any_level() -> None:
    taker = uuid4()
    alert = acknowledged(None, taker)

    events = decide(alert, flag(RiskLevel.HIGH, None), T0 + 40 * MINUTE)
    after = then(alert, events)

    assert [kind_of(e) for e in events][2:] == ["reopened", "page_requested"]
    assert after.status is AlertStatus.OPEN
    assert after.current_level == 0
    assert after.deadline is None  # adopting the site's policy, once it has one, goes on


# --- ack_expires_after ----------------------------------------------------------------------


def test_an_acknowledgement_expires_after_the_policys_ack_expires_after() -> None:
    taker = uuid4()
    alert = acknowledged(policy(expires=timedelta(hours=4)), taker)
    expires = T0 + MINUTE + timedelta(hours=4)

    assert alert.ack_expires_at == expires
    assert alert.deadline == Deadline("ack_expiry", 0, Step(0, 1), expires)
    assert decide(alert, AckExpired(0), expires - MINUTE) == []  # not yet due

    events = decide(alert, AckExpired(0), expires)
    after = then(alert, events)

    page_id = page_id_for(alert.id, Step(0, 1), taker, 1)
    assert events == [
        Reopened(taker, AlertReopenReason.ACK_EXPIRED, 1, 0, expires),
        PageRequested(page_id, taker, 1, 0, None, expires),
    ]
    assert after.status is AlertStatus.OPEN
    assert after.deadline == Deadline("escalation", 1, Step(0, 1), expires + 5 * MINUTE)
    published = public_events(alert, events, PAGING)
    assert isinstance(published[0], public.AlertReopened)
    assert published[0].reason is AlertReopenReason.ACK_EXPIRED


def test_a_stale_expiry_changes_nothing() -> None:
    taker = uuid4()
    frozen = policy(expires=timedelta(hours=4))
    alert = acknowledged(frozen, taker)
    late = T0 + timedelta(hours=5)

    resolved = then(alert, decide(alert, Resolve(taker, AlertOutcome.SAFETY_PLAN), T0 + 2 * MINUTE))
    assert resolved.deadline is None
    assert decide(resolved, AckExpired(0), late) == []

    # Re-opened by a flag and taken again: the first acknowledgement's timer is of round 0.
    alert = then(alert, decide(alert, flag(RiskLevel.HIGH, frozen), T0 + 10 * MINUTE))
    alert = then(alert, decide(alert, Acknowledge(taker), T0 + 11 * MINUTE))
    assert decide(alert, AckExpired(0), late) == []
    assert alert.deadline == Deadline(
        "ack_expiry", 1, Step(0, 1), T0 + 11 * MINUTE + timedelta(hours=4)
    )


def test_without_ack_expires_after_an_acknowledgement_holds() -> None:
    alert = acknowledged(policy(), uuid4())

    assert alert.ack_expires_at is None
    assert alert.deadline is None
    assert decide(alert, AckExpired(0), T0 + timedelta(days=30)) == []
