"""Escalation levels that name schedules: resolved when paged, skipped at once when empty."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from counseling_shared.codes import RiskLevel, RiskSource
from crisis.domain.alert import Alert, EscalationDue, OnCall, ReceiveFlag, decide, fold, open_alert
from crisis.domain.escalation import FIRST_STEP, Step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    AlertEvent,
    LevelSkipped,
    OnCallResolved,
    PageRequested,
    kind_of,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _open(policy: EscalationPolicy, on_call: OnCall) -> tuple[list[AlertEvent], Alert]:
    command = ReceiveFlag(uuid4(), RiskLevel.HIGH, RiskSource.INTEGRATION, policy, on_call)
    events = open_alert(uuid4(), uuid4(), uuid4(), command, T0)
    alert = fold(None, events)
    assert alert is not None
    return events, alert


def _paged(events: list[AlertEvent]) -> list[tuple[UUID, int]]:
    return [(e.staff_id, e.level) for e in events if isinstance(e, PageRequested)]


def test_a_schedule_level_pages_whoever_is_on_call_and_the_timeline_records_who() -> None:
    rota, named, on_duty = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((named,), MINUTE, (rota,)),))

    events, alert = _open(policy, {rota: (on_duty,)})

    assert _paged(events) == [(named, 1), (on_duty, 1)]
    [resolved] = [e for e in events if isinstance(e, OnCallResolved)]
    assert (resolved.schedule_id, resolved.staff_ids, resolved.level) == (rota, (on_duty,), 1)
    assert alert.escalation_due_at == T0 + MINUTE


def test_someone_both_named_and_on_call_is_paged_once() -> None:
    rota, person = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((person,), MINUTE, (rota,)),))

    events, _ = _open(policy, {rota: (person,)})

    assert _paged(events) == [(person, 1)]


def test_a_level_with_nobody_on_call_is_skipped_at_once() -> None:
    empty_rota, backup = uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((), timedelta(minutes=10), (empty_rota,)), PolicyLevel((backup,), MINUTE))
    )

    events, alert = _open(policy, {empty_rota: ()})

    assert [kind_of(e) for e in events] == [
        "flag_received",
        "opened",
        "oncall_resolved",
        "level_skipped",
        "escalated",
        "page_requested",
    ]
    assert _paged(events) == [(backup, 2)]
    assert {e.at for e in events} == {T0}  # not after level 1's ten minutes
    assert alert.current_level == 2
    assert alert.escalation_due_at == T0 + MINUTE


def test_when_every_level_resolves_to_nobody_the_chain_is_exhausted_at_once() -> None:
    rota = uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((), MINUTE, (rota,)), PolicyLevel((), MINUTE, (uuid4(),))), repeat=3
    )

    events, alert = _open(policy, {rota: ()})

    assert _paged(events) == []
    assert [e.level for e in events if isinstance(e, LevelSkipped)] == [1, 2]
    assert kind_of(events[-1]) == "exhausted"
    assert alert.exhausted
    assert alert.escalation_due_at is None


def test_the_frozen_policy_resolves_its_schedules_when_the_next_level_is_paged() -> None:
    first, rota = uuid4(), uuid4()
    regular, replacement = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((first,), MINUTE), PolicyLevel((), MINUTE, (rota,))))
    _, alert = _open(policy, {rota: (regular,)})

    # An override entered meanwhile: the schedule now answers the replacement.
    later = T0 + MINUTE
    events = decide(alert, EscalationDue(FIRST_STEP, {rota: (replacement,)}), later)

    assert _paged(events) == [(replacement, 2)]
    assert regular not in {e.staff_id for e in events if isinstance(e, PageRequested)}
    after = fold(alert, events)
    assert after is not None
    assert after.step == Step(0, 2)


def test_when_every_level_resolves_to_nobody_the_fallback_staff_are_paged_at_once() -> None:
    rota, director = uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((), MINUTE, (rota,)),), repeat=0, fallback_staff_ids=(director,)
    )

    events, alert = _open(policy, {rota: ()})

    assert [kind_of(e) for e in events][-3:] == ["level_skipped", "exhausted", "page_requested"]
    assert [e.staff_id for e in events if isinstance(e, PageRequested)] == [director]
    assert alert.exhausted
