"""Command and event handlers for alerts. Each runs inside the caller's unit of work."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from counseling_shared import events as public
from counseling_shared.codes import AlertOutcome
from counseling_shared.logs import get_logger
from counseling_shared.unit_of_work import UnitOfWork
from crisis import metrics
from crisis.adapters import alerts, flags, policies, round_robin, staff, timers
from crisis.adapters.flags import RiskFlag
from crisis.application.publishing import Paging, public_events
from crisis.application.schedules import on_call_now
from crisis.domain.alert import (
    AckExpired,
    Acknowledge,
    AdoptPolicy,
    Alert,
    Command,
    DeadlineKind,
    EscalateNow,
    EscalationDue,
    OnCall,
    ReceiveFlag,
    RecordCallEnded,
    RecordPageFailed,
    RecordPageSent,
    Resolve,
    decide,
    open_alert,
)
from crisis.domain.escalation import Step
from crisis.domain.policy import EscalationPolicy, everyone, has_round_robin, schedules_of
from crisis.domain.round_robin import Turns
from crisis.domain.timeline import (
    AlertEvent,
    ChainRepeated,
    Escalated,
    EscalatedByStaff,
    Exhausted,
    LevelSkipped,
    NoPolicy,
    PageRequested,
    Reopened,
    kind_of,
)

log = get_logger(__name__)


class AlertNotFound(Exception):
    def __init__(self, alert_id: UUID) -> None:
        super().__init__(f"no alert {alert_id}")
        self.alert_id = alert_id


@dataclass(frozen=True)
class FlagOutcome:
    flag_id: UUID
    alert_id: UUID | None


async def submit_flag(uow: UnitOfWork, flag: RiskFlag, paging: Paging) -> FlagOutcome:
    """A flag posted to crisis: announce it as crisis's `RiskFlagged`, then handle it at once.

    Handling happens here, in the same transaction, rather than by consuming our own event, so
    level 1 is paged without waiting for a round trip through JetStream.
    """
    announced = uow.publish(
        public.RiskFlagged(
            flag_id=flag.flag_id,
            client_id=flag.client_id,
            site_id=flag.site_id,
            level=flag.level,
            source=flag.source,
            flagged_at=flag.flagged_at,
        ),
        subject=flag.flag_id,
    )
    uow.cause = announced  # what follows continues the flag's correlation id
    return await receive_flag(uow, flag, paging)


async def receive_flag(uow: UnitOfWork, flag: RiskFlag, paging: Paging) -> FlagOutcome:
    """Record a flag; moderate or above opens the client's alert or joins the one already open."""
    if not await flags.record_flag(uow, flag):
        return FlagOutcome(flag.flag_id, await flags.alert_of_flag(uow.conn, flag.flag_id))
    if not flag.level.needs_alert:
        return FlagOutcome(flag.flag_id, None)
    conn = uow.conn
    await alerts.lock_client(conn, flag.client_id)
    await policies.lock_site_for_flag(conn, flag.site_id)
    site_policy = await policies.policy_of(conn, flag.site_id)
    in_force = site_policy.policy if site_policy else None
    loaded = None
    if (active := await alerts.active_alert_of(conn, flag.client_id, flag.site_id)) is not None:
        await alerts.lock(conn, active)
        loaded = await alerts.load(conn, active)
    if loaded is not None and loaded.alert.is_active:
        alert = loaded.alert
        # A flag re-opening an acknowledged alert pages by its frozen policy and its
        # acknowledger: who they are (deactivated?) is asked now. Adopting uses the site's.
        paged_by = alert.policy or in_force
        people = await _people_now(
            uow, paged_by, [alert.acknowledged_by] if alert.acknowledged_by else []
        )
        unreachable, turns = await _round_robin_now(uow, flag.site_id, paged_by, people[0])
        command = ReceiveFlag(
            flag.flag_id,
            flag.level,
            flag.source,
            in_force,
            *people,
            unreachable_staff=unreachable,
            turns=turns,
        )
        alert_id = alert.id
        events = decide(alert, command, uow.now())
    else:  # no alert, or it was resolved while we waited for its lock
        people = await _people_now(uow, in_force)
        unreachable, turns = await _round_robin_now(uow, flag.site_id, in_force, people[0])
        command = ReceiveFlag(
            flag.flag_id,
            flag.level,
            flag.source,
            in_force,
            *people,
            unreachable_staff=unreachable,
            turns=turns,
        )
        loaded, alert_id = None, uuid4()
        events = open_alert(alert_id, flag.client_id, flag.site_id, command, uow.now())
    await _save_and_publish(uow, alert_id, loaded, events, paging)
    await flags.link_to_alert(conn, flag.flag_id, alert_id)
    return FlagOutcome(flag.flag_id, alert_id)


async def acknowledge(uow: UnitOfWork, alert_id: UUID, staff_id: UUID, paging: Paging) -> Alert:
    """Escalation stops: the pending deadline is cancelled in this same transaction."""
    return await _change(uow, alert_id, Acknowledge(staff_id), paging)


async def escalate_now(
    uow: UnitOfWork,
    alert_id: UUID,
    staff_id: UUID,
    paging: Paging,
    from_step: Step | None = None,
) -> Alert:
    """A paged staff member cannot take the alert: the next step is paged now, in this
    transaction, with the pending timer cancelled (`_save_and_publish` follows the new
    deadline). Raises the domain's refusals (`NotPaged`, `AlreadyAcknowledged`, …)."""
    if not await alerts.lock(uow.conn, alert_id):
        raise AlertNotFound(alert_id)
    loaded = await alerts.load(uow.conn, alert_id)
    assert loaded is not None
    # The frozen policy's schedules are asked now, as a timer firing would.
    on_call, inactive = await _people_now(uow, loaded.alert.policy)
    unreachable, turns = await _round_robin_now(
        uow, loaded.alert.site_id, loaded.alert.policy, on_call
    )
    command = EscalateNow(staff_id, from_step, on_call, inactive, unreachable, turns)
    events = decide(loaded.alert, command, uow.now())
    return await _save_and_publish(uow, alert_id, loaded, events, paging)


async def resolve(
    uow: UnitOfWork, alert_id: UUID, staff_id: UUID, outcome: AlertOutcome, paging: Paging
) -> Alert:
    return await _change(uow, alert_id, Resolve(staff_id, outcome), paging)


@dataclass(frozen=True)
class DueDeadline:
    """A claimed `escalation_timers` row: a level's ack deadline, or an acknowledgement's
    expiry (`ack_expiry`), of the alert's re-opening `round` (0: never re-opened)."""

    timer_id: UUID
    alert_id: UUID
    step: Step
    kind: DeadlineKind = "escalation"
    round: int = 0


async def escalation_due(uow: UnitOfWork, due: DueDeadline, paging: Paging) -> None:
    """A deadline passed: page the next step, or (an acknowledgement expired) re-open the alert
    and page its acknowledger; unless the alert moved on (then the timer is void).

    The timer row is settled in the same transaction as the alert's events, so a crash before
    commit fires it again and a crash after commit never does.
    """
    conn = uow.conn
    loaded = (
        await alerts.load(conn, due.alert_id) if await alerts.lock(conn, due.alert_id) else None
    )
    events = []
    if loaded is not None:
        alert = loaded.alert
        # The frozen policy keeps schedule references: who they name is decided now.
        taker = [alert.acknowledged_by] if alert.acknowledged_by else []
        on_call, inactive = await _people_now(uow, alert.policy, taker)
        unreachable, turns = await _round_robin_now(uow, alert.site_id, alert.policy, on_call)
        command: Command = (
            AckExpired(due.round, on_call, inactive, unreachable, turns)
            if due.kind == "ack_expiry"
            else EscalationDue(due.step, on_call, inactive, due.round, unreachable, turns)
        )
        events = decide(alert, command, uow.now())
    await timers.settle(conn, due.timer_id, "fired" if events else "cancelled", uow.now())
    if loaded and events:
        await _save_and_publish(uow, due.alert_id, loaded, events, paging)


async def page_orphan_alerts(uow: UnitOfWork, site_id: UUID, paging: Paging) -> list[UUID]:
    """The site has a policy now: every open alert that opened without one adopts it and pages
    level 1, in the caller's transaction. Returns the alerts that started paging."""
    site_policy = await policies.policy_of(uow.conn, site_id)
    if site_policy is None:
        return []
    if has_round_robin(site_policy.policy):
        # Turns are taken while alerts are locked one after another: flags of the site (which
        # lock an alert, then the turns) wait, so neither holds what the other waits for.
        await policies.lock_site_for_change(uow.conn, site_id)
    adopted = []
    on_call, inactive = await _people_now(uow, site_policy.policy)
    for alert_id in await policies.orphan_alerts_of(uow.conn, site_id):
        if not await alerts.lock(uow.conn, alert_id):
            continue
        loaded = await alerts.load(uow.conn, alert_id)
        assert loaded is not None
        # Read per alert: the previous one may just have taken a turn.
        unreachable, turns = await _round_robin_now(uow, site_id, site_policy.policy, on_call)
        command = AdoptPolicy(site_policy.policy, on_call, inactive, unreachable, turns)
        events = decide(loaded.alert, command, uow.now())
        if events:
            await _save_and_publish(uow, alert_id, loaded, events, paging)
            adopted.append(alert_id)
    return adopted


async def record_delivery(
    uow: UnitOfWork, notification: public.NotificationSent, delivered_at: datetime
) -> None:
    """notify sent (or gave up on) one channel of a page: note it on the page and the timeline."""
    page_id = notification.page_id
    if page_id is None:
        return
    conn = uow.conn
    alert_id = await alerts.alert_of_page(conn, page_id)
    if alert_id is None or not await alerts.lock(conn, alert_id):
        # Not one of ours (another deployment sharing the bus): nothing to record.
        log.warning("delivery_for_unknown_page", page_id=str(page_id))
        return
    loaded = await alerts.load(conn, alert_id)
    assert loaded is not None
    command: Command
    if isinstance(notification, public.NotificationFailed):
        command = RecordPageFailed(
            page_id,
            notification.notification_id,
            notification.channel.value,
            notification.attempts,
            delivered_at,
        )
    else:
        command = RecordPageSent(
            page_id, notification.notification_id, notification.channel.value, delivered_at
        )
    page = loaded.alert.page(page_id)
    events = decide(loaded.alert, command, uow.now())
    await alerts.save(uow, alert_id, loaded, events)
    if isinstance(command, RecordPageSent) and page is not None and page.sent_at is None:
        trigger = "flag" if page.flag_id else "escalation"
        latency = (delivered_at - page.requested_at).total_seconds()
        metrics.PAGE_LATENCY.labels(trigger).observe(max(latency, 0.0))


async def record_call_ended(
    uow: UnitOfWork, page_id: UUID, outcome: str, answered_by: str | None
) -> bool:
    """A page's phone call ended (Twilio's status callback): a `call_ended` step on the
    timeline, never an acknowledgement. False when the page is not one of ours."""
    alert_id = await alerts.alert_of_page(uow.conn, page_id)
    if alert_id is None or not await alerts.lock(uow.conn, alert_id):
        return False
    loaded = await alerts.load(uow.conn, alert_id)
    assert loaded is not None
    command = RecordCallEnded(page_id, outcome, answered_by or "", uow.now())
    await alerts.save(uow, alert_id, loaded, decide(loaded.alert, command, uow.now()))
    return True


async def _people_now(
    uow: UnitOfWork, policy: EscalationPolicy | None, also: Iterable[UUID] = ()
) -> tuple[OnCall, frozenset[UUID]]:
    """Who the policy's schedules have on call now, and who of everyone it can page (named or
    on call, and `also`: an acknowledger paged again) booking deactivated: they are skipped
    when their level is paged."""
    also = set(also)
    if policy is None:
        return {}, await staff.inactive_among(uow.conn, also)
    on_call = await on_call_now(uow, schedules_of(policy))
    reachable = everyone(policy) | {s for people in on_call.values() for s in people} | also
    return on_call, await staff.inactive_among(uow.conn, reachable)


async def _round_robin_now(
    uow: UnitOfWork, site_id: UUID, policy: EscalationPolicy | None, on_call: OnCall
) -> tuple[frozenset[UUID], Turns]:
    """For a policy with round-robin levels: who of the people it can page has no phone or
    email (passed over when it is their turn), and the site's turns, read under the site's
    round-robin lock held until commit (the turns this decision gives are written before)."""
    if not has_round_robin(policy):
        return frozenset(), {}
    assert policy is not None
    await round_robin.lock_site(uow.conn, site_id)
    people = everyone(policy) | {s for staff_ids in on_call.values() for s in staff_ids}
    unreachable = await staff.with_fewer_channels(uow.conn, people, 1)
    return frozenset(unreachable), await round_robin.turns_of(uow.conn, site_id)


async def _change(uow: UnitOfWork, alert_id: UUID, command: Command, paging: Paging) -> Alert:
    if not await alerts.lock(uow.conn, alert_id):
        raise AlertNotFound(alert_id)
    loaded = await alerts.load(uow.conn, alert_id)
    assert loaded is not None
    events = decide(loaded.alert, command, uow.now())
    if not events:
        return loaded.alert
    return await _save_and_publish(uow, alert_id, loaded, events, paging)


async def _save_and_publish(
    uow: UnitOfWork,
    alert_id: UUID,
    loaded: alerts.LoadedAlert | None,
    events: list[AlertEvent],
    paging: Paging,
) -> Alert:
    after = await alerts.save(uow, alert_id, loaded, events)
    await round_robin.record_turns(uow.conn, after.site_id, events, uow.now())
    for event in public_events(loaded.alert if loaded else None, events, paging):
        envelope = uow.publish(event, subject=alert_id)
        if uow.cause is None:  # a deadline or a staff action starts a flow: keep it one flow
            uow.cause = envelope
    _count(events)
    log.info(
        "alert_changed",
        alert_id=str(alert_id),
        site_id=str(after.site_id),
        steps=[kind_of(e) for e in events],
        status=after.status.value,
        current_level=after.current_level,
    )
    return after


def _count(events: list[AlertEvent]) -> None:
    for event in events:
        match event:
            case PageRequested():
                metrics.PAGES_REQUESTED.labels("flag" if event.flag_id else "escalation").inc()
            case (
                Escalated()
                | EscalatedByStaff()
                | ChainRepeated()
                | Exhausted()
                | LevelSkipped()
                | Reopened()
            ):
                metrics.ESCALATION_STEPS.labels(kind_of(event)).inc()
            case NoPolicy():
                metrics.ALERTS_WITHOUT_POLICY.inc()
            case _:
                pass
