"""The escalation state machine, alone and driven through the Alert aggregate."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from counseling_shared.codes import AlertStatus, RiskLevel, RiskSource
from crisis.domain.alert import (
    Acknowledge,
    Alert,
    EscalationDue,
    ReceiveFlag,
    decide,
    fold,
    open_alert,
)
from crisis.domain.escalation import Step, chain, next_step
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import AlertEvent, Exhausted, PageRequested

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def ladder(*timeouts: int, repeat: int = 1, staff_per_level: int = 1) -> EscalationPolicy:
    return EscalationPolicy(
        tuple(
            PolicyLevel(tuple(uuid4() for _ in range(staff_per_level)), timedelta(seconds=t))
            for t in timeouts
        ),
        repeat,
    )


def test_levels_come_in_order_then_the_chain_repeats() -> None:
    policy = ladder(60, 60, 60, repeat=1)

    assert chain(policy) == [
        Step(0, 1),
        Step(0, 2),
        Step(0, 3),
        Step(1, 1),
        Step(1, 2),
        Step(1, 3),
    ]


def test_repeat_zero_runs_the_chain_once() -> None:
    policy = ladder(60, 60, repeat=0)

    assert chain(policy) == [Step(0, 1), Step(0, 2)]
    assert next_step(policy, Step(0, 2)) is None


def test_default_repeat_runs_the_chain_once_more() -> None:
    policy = EscalationPolicy((PolicyLevel((uuid4(),), timedelta(seconds=5)),))

    assert chain(policy) == [Step(0, 1), Step(1, 1)]


@dataclass
class Run:
    """What a simulated alert did: every event, and the instant each one was decided."""

    events: list[tuple[datetime, AlertEvent]]
    alert: Alert


def run_until(policy: EscalationPolicy, ack_after: timedelta | None) -> Run:
    """Open an alert at T0 and fire each deadline as it falls due, acknowledging at T0+ack_after."""
    flag = ReceiveFlag(uuid4(), RiskLevel.HIGH, RiskSource.INTEGRATION, policy)
    opened = open_alert(uuid4(), uuid4(), uuid4(), flag, T0)
    log = [(T0, e) for e in opened]
    alert = fold(None, opened)
    assert alert is not None
    ack_at = T0 + ack_after if ack_after is not None else None
    while True:
        due = alert.escalation_due_at
        if ack_at is not None and (due is None or ack_at < due):
            acked = decide(alert, Acknowledge(uuid4()), ack_at)
            log += [(ack_at, e) for e in acked]
            alert = fold(alert, acked)
            assert alert is not None
            # A timer that was already claimed fires late: it must change nothing.
            if alert.step is not None:
                assert decide(alert, EscalationDue(alert.step), ack_at) == []
            break
        if due is None:
            break
        assert alert.step is not None
        moved = decide(alert, EscalationDue(alert.step), due)
        log += [(due, e) for e in moved]
        alert = fold(alert, moved)
        assert alert is not None
    return Run(log, alert)


policies = st.builds(
    lambda timeouts, repeat, staff: ladder(*timeouts, repeat=repeat, staff_per_level=staff),
    st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=1, max_value=3),
)


@settings(max_examples=300, deadline=None)
@given(policies, st.none() | st.integers(min_value=0, max_value=20_000))
def test_pages_go_level_by_level_and_stop_at_the_acknowledgement(
    policy: EscalationPolicy, ack_seconds: int | None
) -> None:
    ack_after = timedelta(seconds=ack_seconds) if ack_seconds is not None else None
    run = run_until(policy, ack_after)
    pages = [(at, e) for at, e in run.events if isinstance(e, PageRequested)]

    # Steps are paged in chain order, each with exactly its level's staff.
    steps: list[Step] = []
    for _, page in pages:
        step = Step(page.cycle, page.level)
        if not steps or steps[-1] != step:
            steps.append(step)
    assert steps == chain(policy)[: len(steps)]
    for step in steps:
        paged = [p.staff_id for _, p in pages if Step(p.cycle, p.level) == step]
        assert paged == list(policy.level(step.level).staff_ids)

    assert len(steps) <= len(policy.levels) * (policy.repeat + 1)
    if ack_after is not None:
        assert all(at <= T0 + ack_after for at, _ in pages)
        assert run.alert.status is AlertStatus.ACKNOWLEDGED
    # Exhausted exactly when the last deadline passed before anyone acknowledged.
    last_deadline = T0 + policy.passes * sum((lv.ack_timeout for lv in policy.levels), timedelta())
    exhausted = any(isinstance(e, Exhausted) for _, e in run.events)
    assert exhausted == (ack_after is None or T0 + ack_after >= last_deadline)


@given(policies)
def test_without_an_ack_every_step_is_paged_then_the_alert_stays_open(
    policy: EscalationPolicy,
) -> None:
    run = run_until(policy, None)

    paged_steps = {Step(e.cycle, e.level) for _, e in run.events if isinstance(e, PageRequested)}
    assert paged_steps == set(chain(policy))
    assert run.alert.status is AlertStatus.OPEN
    assert run.alert.exhausted
    assert run.alert.escalation_due_at is None


def test_each_level_gets_its_own_full_ack_timeout() -> None:
    run = run_until(ladder(30, 120, repeat=0), None)

    page_times = sorted({at for at, e in run.events if isinstance(e, PageRequested)})
    assert page_times == [T0, T0 + timedelta(seconds=30)]
    exhausted_at = next(at for at, e in run.events if isinstance(e, Exhausted))
    assert exhausted_at == T0 + timedelta(seconds=150)
