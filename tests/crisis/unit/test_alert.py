"""The Alert aggregate: opening, joining, freezing the policy, acknowledging, resolving."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from counseling_shared.codes import AlertOutcome, AlertStatus, RiskLevel, RiskSource
from counseling_shared.events import PageRequested as Paged
from crisis.application.publishing import Paging, public_events
from crisis.domain.alert import (
    Acknowledge,
    AdoptPolicy,
    Alert,
    AlertResolved,
    EscalationDue,
    FlagBelowThreshold,
    ReceiveFlag,
    RecordPageFailed,
    RecordPageSent,
    Resolve,
    UnknownPage,
    decide,
    fold,
    open_alert,
)
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    Acknowledged,
    AlertEvent,
    ChainRepeated,
    Escalated,
    FlagReceived,
    LevelRaised,
    NoPolicy,
    Opened,
    PageRequested,
    PolicyAdopted,
    Resolved,
    kind_of,
    timeline_details,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def two_level_policy(repeat: int = 1) -> EscalationPolicy:
    return EscalationPolicy(
        (
            PolicyLevel((uuid4(), uuid4()), timedelta(seconds=30)),
            PolicyLevel((uuid4(),), timedelta(seconds=60)),
        ),
        repeat,
    )


def flag(level: RiskLevel = RiskLevel.HIGH, policy: EscalationPolicy | None = None) -> ReceiveFlag:
    return ReceiveFlag(uuid4(), level, RiskSource.INTEGRATION, policy)


def opened(policy: EscalationPolicy | None, level: RiskLevel = RiskLevel.HIGH) -> Alert:
    alert = fold(None, open_alert(uuid4(), uuid4(), uuid4(), flag(level, policy), T0))
    assert alert is not None
    return alert


def then(alert: Alert, events: list[AlertEvent]) -> Alert:
    after = fold(alert, events)
    assert after is not None
    return after


def test_opening_records_the_flag_and_pages_every_level_one_staff_member_at_once() -> None:
    policy = two_level_policy()
    first = flag(RiskLevel.MODERATE, policy)

    events = open_alert(uuid4(), uuid4(), uuid4(), first, T0)

    assert [kind_of(e) for e in events] == [
        "flag_received",
        "opened",
        "page_requested",
        "page_requested",
    ]
    pages = [e for e in events if isinstance(e, PageRequested)]
    assert [p.staff_id for p in pages] == list(policy.levels[0].staff_ids)
    assert {(p.level, p.cycle, p.flag_id, p.at) for p in pages} == {(1, 0, first.flag_id, T0)}
    alert = fold(None, events)
    assert alert is not None
    assert alert.status is AlertStatus.OPEN
    assert alert.current_level == 1
    assert alert.escalation_due_at == T0 + timedelta(seconds=30)


@pytest.mark.parametrize("level", [RiskLevel.NONE, RiskLevel.LOW])
def test_a_flag_below_moderate_opens_nothing(level: RiskLevel) -> None:
    with pytest.raises(FlagBelowThreshold):
        open_alert(uuid4(), uuid4(), uuid4(), flag(level, two_level_policy()), T0)


def test_a_site_without_policy_opens_the_alert_pages_nobody_and_says_so() -> None:
    events = open_alert(uuid4(), uuid4(), uuid4(), flag(policy=None), T0)

    assert [type(e) for e in events] == [FlagReceived, Opened, NoPolicy]
    alert = fold(None, events)
    assert alert is not None
    assert alert.status is AlertStatus.OPEN
    assert alert.current_level == 0
    assert alert.escalation_due_at is None


def test_a_later_flag_starts_paging_an_alert_that_opened_without_policy() -> None:
    alert = opened(None)
    policy = two_level_policy()

    events = decide(alert, flag(RiskLevel.HIGH, policy), T0 + SECOND)

    assert [type(e) for e in events] == [FlagReceived, PolicyAdopted, PageRequested, PageRequested]
    after = then(alert, events)
    assert after.policy == policy
    assert after.escalation_due_at == T0 + SECOND + timedelta(seconds=30)


def test_a_second_flag_joins_the_timeline_and_raises_the_level() -> None:
    alert = opened(two_level_policy(), RiskLevel.MODERATE)
    second = flag(RiskLevel.IMMINENT, alert.policy)

    events = decide(alert, second, T0 + SECOND)

    assert events == [
        FlagReceived(second.flag_id, RiskLevel.IMMINENT, RiskSource.INTEGRATION, T0 + SECOND),
        LevelRaised(second.flag_id, RiskLevel.MODERATE, RiskLevel.IMMINENT, T0 + SECOND),
    ]
    assert then(alert, events).risk_level is RiskLevel.IMMINENT


def test_a_lower_second_flag_never_lowers_the_level_nor_pages_again() -> None:
    alert = opened(two_level_policy(), RiskLevel.HIGH)

    events = decide(alert, flag(RiskLevel.MODERATE, alert.policy), T0 + SECOND)

    assert [type(e) for e in events] == [FlagReceived]
    assert then(alert, events).risk_level is RiskLevel.HIGH


def test_the_frozen_policy_drives_escalation_even_after_the_site_changes_it() -> None:
    frozen = two_level_policy()
    alert = opened(frozen)
    edited = EscalationPolicy((PolicyLevel((uuid4(),), timedelta(seconds=5)),), repeat=0)

    alert = then(alert, decide(alert, flag(RiskLevel.HIGH, edited), T0 + SECOND))
    events = decide(alert, EscalationDue(Step(0, 1)), T0 + timedelta(seconds=30))

    assert alert.policy == frozen
    assert [e.staff_id for e in events if isinstance(e, PageRequested)] == list(
        frozen.levels[1].staff_ids
    )


def test_a_missed_deadline_pages_the_next_level_then_the_chain_repeats() -> None:
    alert = opened(two_level_policy(repeat=1))

    alert = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND))
    assert alert.step == Step(0, 2)
    repeat = decide(alert, EscalationDue(Step(0, 2)), T0 + 90 * SECOND)

    assert isinstance(repeat[0], ChainRepeated)
    assert {(e.level, e.cycle) for e in repeat if isinstance(e, PageRequested)} == {(1, 1)}


def test_a_timer_for_an_earlier_step_changes_nothing() -> None:
    alert = opened(two_level_policy())
    alert = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND))

    assert decide(alert, EscalationDue(Step(0, 1)), T0 + 31 * SECOND) == []


def test_acknowledging_stops_escalation() -> None:
    alert = opened(two_level_policy())
    staff = alert.policy.levels[0].staff_ids[0] if alert.policy else uuid4()

    events = decide(alert, Acknowledge(staff), T0 + 10 * SECOND)
    acked = then(alert, events)

    assert events == [Acknowledged(staff, 1, T0 + 10 * SECOND)]
    assert acked.status is AlertStatus.ACKNOWLEDGED
    assert acked.escalation_due_at is None
    assert decide(acked, EscalationDue(Step(0, 1)), T0 + 30 * SECOND) == []


def test_a_second_acknowledgement_changes_nothing() -> None:
    alert = opened(two_level_policy())
    alert = then(alert, decide(alert, Acknowledge(uuid4()), T0 + SECOND))

    assert decide(alert, Acknowledge(uuid4()), T0 + 2 * SECOND) == []


def test_a_flag_not_raising_an_acknowledged_alert_does_not_restart_paging() -> None:
    """A raising flag re-opens it (test_reopen.py); one at the same or a lower level does not."""
    alert = opened(two_level_policy())
    alert = then(alert, decide(alert, Acknowledge(uuid4()), T0 + SECOND))

    for level in (RiskLevel.HIGH, RiskLevel.MODERATE):
        events = decide(alert, flag(level, two_level_policy()), T0 + 2 * SECOND)

        assert not any(isinstance(e, PageRequested | Escalated) for e in events)
        assert then(alert, events).status is AlertStatus.ACKNOWLEDGED


def test_resolving_closes_the_alert_and_a_resolved_alert_refuses_ack_and_resolve() -> None:
    alert = opened(two_level_policy())
    staff = uuid4()

    events = decide(alert, Resolve(staff, AlertOutcome.SAFETY_PLAN), T0 + SECOND)
    resolved = then(alert, events)

    assert events == [Resolved(staff, AlertOutcome.SAFETY_PLAN, T0 + SECOND)]
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.escalation_due_at is None
    with pytest.raises(AlertResolved):
        decide(resolved, Acknowledge(staff), T0 + 2 * SECOND)
    with pytest.raises(AlertResolved):
        decide(resolved, Resolve(staff, AlertOutcome.POLICE), T0 + 2 * SECOND)
    with pytest.raises(AlertResolved):
        decide(resolved, flag(), T0 + 2 * SECOND)


def test_the_first_delivered_channel_sets_sent_at_and_every_one_is_recorded() -> None:
    alert = opened(two_level_policy())
    page = alert.pages[0]
    sms_at, email_at = T0 + SECOND, T0 + 3 * SECOND

    alert = then(alert, decide(alert, RecordPageSent(page.page_id, uuid4(), "sms", sms_at), sms_at))
    email = decide(alert, RecordPageSent(page.page_id, uuid4(), "email", email_at), email_at)
    alert = then(alert, email)

    assert len(email) == 1
    assert alert.page(page.page_id) is not None
    assert alert.pages[0].sent_at == sms_at
    assert alert.pages[1].sent_at is None


def test_a_failed_page_is_recorded_and_an_unknown_page_refused() -> None:
    alert = opened(two_level_policy())
    page = alert.pages[1]

    failed = decide(alert, RecordPageFailed(page.page_id, uuid4(), "sms", 5, T0 + SECOND), T0)
    assert then(alert, failed).pages[1].failed_at == T0 + SECOND
    with pytest.raises(UnknownPage):
        decide(alert, RecordPageSent(uuid4(), uuid4(), "sms", T0), T0)


def test_page_ids_are_stable_for_the_same_alert_step_and_staff_member() -> None:
    policy = two_level_policy()
    alert_id, client, site, first = uuid4(), uuid4(), uuid4(), flag(policy=policy)

    once = open_alert(alert_id, client, site, first, T0)
    again = open_alert(alert_id, client, site, first, T0 + SECOND)

    ids = [e.page_id for e in once if isinstance(e, PageRequested)]
    assert ids == [e.page_id for e in again if isinstance(e, PageRequested)]
    assert len(set(ids)) == 2


def test_the_timeline_holds_ids_and_codes_only() -> None:
    alert_events = open_alert(uuid4(), uuid4(), uuid4(), flag(policy=two_level_policy()), T0)

    for event in alert_events:
        for value in timeline_details(event).values():
            assert isinstance(value, int | str) or hasattr(value, "hex")


def test_an_exhausted_chain_pages_the_fallback_staff_once_and_stays_open() -> None:
    fallback = (uuid4(), uuid4())
    policy = EscalationPolicy(
        (PolicyLevel((uuid4(),), timedelta(seconds=30)),), repeat=0, fallback_staff_ids=fallback
    )
    alert = opened(policy)

    events = decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND)
    alert = then(alert, events)

    assert [kind_of(e) for e in events] == ["exhausted", "page_requested", "page_requested"]
    assert {(e.staff_id, e.level) for e in events if isinstance(e, PageRequested)} == {
        (fallback[0], 2),
        (fallback[1], 2),
    }
    assert (alert.status, alert.exhausted, alert.escalation_due_at) == (
        AlertStatus.OPEN,
        True,
        None,
    )
    assert decide(alert, EscalationDue(Step(0, 1)), T0 + 60 * SECOND) == []


def test_an_exhausted_chain_without_fallback_pages_nobody_more() -> None:
    alert = opened(two_level_policy(repeat=0))
    alert = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND))

    events = decide(alert, EscalationDue(Step(0, 2)), T0 + 90 * SECOND)

    assert [kind_of(e) for e in events] == ["exhausted"]


def test_a_policy_set_for_the_site_starts_paging_an_alert_that_opened_without_one() -> None:
    alert = opened(None)
    policy = two_level_policy()

    events = decide(alert, AdoptPolicy(policy), T0 + SECOND)
    alert = then(alert, events)

    assert [kind_of(e) for e in events] == ["policy_adopted", "page_requested", "page_requested"]
    assert alert.escalation_due_at == T0 + SECOND + policy.levels[0].ack_timeout
    assert decide(alert, AdoptPolicy(two_level_policy()), T0 + 2 * SECOND) == []


def test_an_acknowledged_alert_without_policy_is_not_paged_when_a_policy_is_set() -> None:
    alert = opened(None)
    alert = then(alert, decide(alert, Acknowledge(uuid4()), T0 + SECOND))

    assert decide(alert, AdoptPolicy(two_level_policy()), T0 + 2 * SECOND) == []


def test_exhaustion_is_announced_as_alert_exhausted() -> None:
    alert = opened(two_level_policy(repeat=0))
    alert = then(alert, decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND))
    events = decide(alert, EscalationDue(Step(0, 2)), T0 + 90 * SECOND)

    announced = public_events(alert, events, Paging("https://crisis.example.test"))

    assert [type(e).__name__ for e in announced] == ["AlertExhausted"]
    assert announced[0].model_dump()["current_level"] == 2


def test_the_fallback_staffs_page_is_announced_as_the_fallback_with_its_level_unchanged() -> None:
    backup = uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((uuid4(),), timedelta(seconds=30)),), repeat=0, fallback_staff_ids=(backup,)
    )
    paging = Paging("https://crisis.example.test")
    opening = open_alert(uuid4(), uuid4(), uuid4(), flag(policy=policy), T0)
    alert = fold(None, opening)
    assert alert is not None
    exhausting = decide(alert, EscalationDue(Step(0, 1)), T0 + 30 * SECOND)

    [level_page] = [e for e in public_events(None, opening, paging) if isinstance(e, Paged)]
    [page] = [e for e in public_events(alert, exhausting, paging) if isinstance(e, Paged)]

    assert (level_page.level, level_page.fallback) == (1, False)
    # `level` keeps its published meaning (one past the last level); `fallback` says which.
    assert (page.staff_id, page.level, page.fallback) == (backup, 2, True)
