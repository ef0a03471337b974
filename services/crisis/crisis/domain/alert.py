"""The Alert aggregate: one client's crisis, from the first flag to its resolution.

`decide(alert, command, now)` says what happens (a list of timeline events) or raises an
`AlertError`; `evolve(alert, event)` applies one event. Both are pure, so the same functions run
on the live write path, when an alert is folded from the event store, and in unit tests.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid5

from counseling_shared.codes import (
    AlertOutcome,
    AlertReopenReason,
    AlertStatus,
    RiskLevel,
    RiskSource,
)
from counseling_shared.fast_replace import replace
from crisis.domain.escalation import FIRST_STEP, Step, fallback_step, next_step
from crisis.domain.policy import EscalationPolicy
from crisis.domain.round_robin import Turn, Turns, choose
from crisis.domain.timeline import (
    ALREADY_PAGED,
    REOPEN_ACK_EXPIRED,
    REOPEN_RISK_RAISED,
    STAFF_DEACTIVATED,
    STAFF_UNREACHABLE,
    Acknowledged,
    AlertEvent,
    CallEnded,
    ChainRepeated,
    Escalated,
    EscalatedByStaff,
    Exhausted,
    FlagReceived,
    LevelRaised,
    LevelSkipped,
    NoPolicy,
    OnCallResolved,
    Opened,
    PageFailed,
    PageRequested,
    PageSent,
    PageSkipped,
    PolicyAdopted,
    Reopened,
    Resolved,
    RoundRobinTurn,
)

# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One staff member paged at one step of the escalation."""

    page_id: UUID
    staff_id: UUID
    level: int
    cycle: int
    requested_at: datetime
    flag_id: UUID | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


DeadlineKind = Literal["escalation", "ack_expiry"]


@dataclass(frozen=True)
class Deadline:
    """The alert's one pending timer: the current level's ack deadline while it is open, or
    when its acknowledgement expires while it is acknowledged. `round` counts re-openings, so a
    timer of an earlier round (same step) is told apart from the running one."""

    kind: DeadlineKind
    round: int
    step: Step
    due_at: datetime


@dataclass(frozen=True)
class Alert:
    """A client's crisis alert. At most one per client is open or acknowledged at a time.

    `policy` is the site's escalation policy as it was when the alert opened (frozen), so editing
    the site's policy never changes an alert that is already running. `step` is where the
    escalation stands (None while no policy is known);
    """

    id: UUID
    client_id: UUID
    site_id: UUID
    risk_level: RiskLevel
    status: AlertStatus
    opened_at: datetime
    policy: EscalationPolicy | None = None
    step: Step | None = None
    step_started_at: datetime | None = None
    exhausted: bool = False
    pages: tuple[Page, ...] = ()
    acknowledged_by: UUID | None = None
    acknowledged_at: datetime | None = None
    resolved_by: UUID | None = None
    resolved_at: datetime | None = None
    outcome: AlertOutcome | None = None
    reopens: int = 0
    reopened_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """Open or acknowledged: the client's one alert that new flags join."""
        return self.status is not AlertStatus.RESOLVED

    @property
    def current_level(self) -> int:
        """The level being paged (1-based); 0 when nobody could be paged."""
        return self.step.level if self.step else 0

    @property
    def escalation_due_at(self) -> datetime | None:
        """When the current level's acknowledgement deadline passes; None when none is running."""
        if (
            self.status is not AlertStatus.OPEN
            or self.exhausted
            or self.policy is None
            or self.step is None
            or self.step_started_at is None
        ):
            return None
        return self.step_started_at + self.policy.level(self.step.level).ack_timeout

    @property
    def ack_expires_at(self) -> datetime | None:
        """When the acknowledgement lapses (the policy's `ack_expires_after`); None: it holds."""
        if (
            self.status is not AlertStatus.ACKNOWLEDGED
            or self.acknowledged_at is None
            or self.policy is None
            or self.policy.ack_expires_after is None
        ):
            return None
        return self.acknowledged_at + self.policy.ack_expires_after

    @property
    def deadline(self) -> Deadline | None:
        """The timer that should be scheduled for the alert now (None: nothing)."""
        step = self.step or Step(0, 0)
        if (due := self.escalation_due_at) is not None:
            return Deadline("escalation", self.reopens, step, due)
        if (expires := self.ack_expires_at) is not None:
            return Deadline("ack_expiry", self.reopens, step, expires)
        return None

    def page(self, page_id: UUID) -> Page | None:
        return next((p for p in self.pages if p.page_id == page_id), None)


# --- commands ------------------------------------------------------------------------------

OnCall = Mapping[UUID, tuple[UUID, ...]]
"""Who each schedule has on call at the moment of the command (a schedule absent: nobody)."""


@dataclass(frozen=True)
class ReceiveFlag:
    """A risk flag for the alert's client. `policy_in_force` is the site's policy right now."""

    flag_id: UUID
    risk_level: RiskLevel
    source: RiskSource
    policy_in_force: EscalationPolicy | None
    on_call: OnCall = field(default_factory=dict)
    inactive_staff: frozenset[UUID] = frozenset()
    unreachable_staff: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)


@dataclass(frozen=True)
class EscalationDue:
    """The deadline of `step` passed (a timer fired). Stale when the alert moved on.

    `on_call` answers for the schedules of the frozen policy: they are resolved now, when the
    next level is paged, so an override entered during the alert reaches it."""

    step: Step
    on_call: OnCall = field(default_factory=dict)
    inactive_staff: frozenset[UUID] = frozenset()
    round: int = 0
    unreachable_staff: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)


@dataclass(frozen=True)
class AckExpired:
    """The acknowledgement of round `round` lapsed (its timer fired). Stale when the alert was
    resolved or re-opened since; `on_call` answers for the frozen policy's schedules now."""

    round: int
    on_call: OnCall = field(default_factory=dict)
    inactive_staff: frozenset[UUID] = frozenset()
    unreachable_staff: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)


@dataclass(frozen=True)
class AdoptPolicy:
    """The site now has `policy`: an alert still open without one starts paging level 1.

    `on_call` answers for the policy's schedules now."""

    policy: EscalationPolicy
    on_call: OnCall = field(default_factory=dict)
    inactive_staff: frozenset[UUID] = frozenset()
    unreachable_staff: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)


@dataclass(frozen=True)
class EscalateNow:
    """A paged staff member cannot take the alert: leave the current step at once, exactly as
    if its ack_timeout had passed. `from_step`: the step they saw (None: whichever is current);
    once the alert has moved past it (the timer fired, or a colleague escalated first) nothing
    more happens, so a double tap or a race with the timer never skips a level.

    `on_call` answers for the frozen policy's schedules now, as for `EscalationDue`."""

    staff_id: UUID
    from_step: Step | None = None
    on_call: OnCall = field(default_factory=dict)
    inactive_staff: frozenset[UUID] = frozenset()
    unreachable_staff: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)


@dataclass(frozen=True)
class _Roster:
    """What a command knows about people at this instant: who each schedule has on call, whom
    booking deactivated, who has no phone or email, where the site's round-robin levels stand
    (`turns`), and whom the alert has paged so far (`paged`: a round-robin level stands
    someone else in for them)."""

    on_call: OnCall
    inactive: frozenset[UUID]
    unreachable: frozenset[UUID] = frozenset()
    turns: Turns = field(default_factory=dict)
    paged: frozenset[UUID] = frozenset()

    @staticmethod
    def of(
        command: "ReceiveFlag | EscalationDue | AckExpired | AdoptPolicy | EscalateNow",
        alert: "Alert | None" = None,
    ) -> "_Roster":
        paged = frozenset(page.staff_id for page in alert.pages) if alert else frozenset()
        return _Roster(
            command.on_call,
            command.inactive_staff,
            command.unreachable_staff,
            command.turns,
            paged,
        )


@dataclass(frozen=True)
class Acknowledge:
    staff_id: UUID


@dataclass(frozen=True)
class Resolve:
    staff_id: UUID
    outcome: AlertOutcome


@dataclass(frozen=True)
class RecordPageSent:
    page_id: UUID
    notification_id: UUID
    channel: str
    sent_at: datetime


@dataclass(frozen=True)
class RecordPageFailed:
    page_id: UUID
    notification_id: UUID
    channel: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class RecordCallEnded:
    page_id: UUID
    outcome: str
    answered_by: str  # empty without machine detection
    ended_at: datetime


Command = (
    ReceiveFlag
    | EscalationDue
    | AckExpired
    | AdoptPolicy
    | EscalateNow
    | Acknowledge
    | Resolve
    | RecordPageSent
    | RecordPageFailed
    | RecordCallEnded
)


class AlertError(Exception):
    """A command the alert refuses."""


class AlertResolved(AlertError):
    """The alert is resolved: it can no longer be acknowledged or resolved again."""


class AlreadyAcknowledged(AlertError):
    """Escalating an acknowledged alert: someone took it, there is nobody to escalate to."""


class NotPaged(AlertError):
    """Only a staff member paged for the alert (at any level so far) may escalate it."""


class NothingToEscalate(AlertError):
    """The alert has no policy, or its chain ran out (the fallback staff were paged)."""


class AlreadyEscalated(AlertError):
    """The alert moved past the step the staff member escalated from: nothing more happens."""

    def __init__(self, message: str, step: Step | None) -> None:
        super().__init__(message)
        self.step = step


class FlagBelowThreshold(AlertError):
    """Only moderate risk or above opens an alert."""


class UnknownPage(AlertError):
    """A notification names a page this alert never requested."""


# --- decide --------------------------------------------------------------------------------


def open_alert(
    alert_id: UUID, client_id: UUID, site_id: UUID, flag: ReceiveFlag, now: datetime
) -> list[AlertEvent]:
    """A flag for a client with no active alert: open one and page level 1 at once."""
    if not flag.risk_level.needs_alert:
        raise FlagBelowThreshold(f"risk level {flag.risk_level} does not open an alert")
    events: list[AlertEvent] = [
        FlagReceived(flag.flag_id, flag.risk_level, flag.source, now),
        Opened(alert_id, client_id, site_id, flag.risk_level, flag.policy_in_force, now),
    ]
    if flag.policy_in_force is None:
        events.append(NoPolicy(now))
    else:
        events += _page_level(
            alert_id, flag.policy_in_force, FIRST_STEP, now, flag.flag_id, _Roster.of(flag)
        )
    return events


def decide(alert: Alert, command: Command, now: datetime) -> list[AlertEvent]:
    match command:
        case ReceiveFlag():
            return _join(alert, command, now)
        case EscalationDue():
            if command.round != alert.reopens:
                return []  # a deadline from before the alert was re-opened
            return _escalate(alert, command.step, now, _Roster.of(command, alert))
        case AckExpired():
            expires = alert.ack_expires_at
            if command.round != alert.reopens or expires is None or now < expires:
                return []  # resolved, re-opened since, or not yet due
            return _reopen(alert, REOPEN_ACK_EXPIRED, now, _Roster.of(command, alert), None)
        case AdoptPolicy():
            if alert.policy is not None or alert.status is not AlertStatus.OPEN:
                return []  # it has a policy of its own already, or someone took it
            return [
                PolicyAdopted(command.policy, now),
                *_page_level(
                    alert.id, command.policy, FIRST_STEP, now, None, _Roster.of(command, alert)
                ),
            ]
        case EscalateNow():
            return _escalate_now(alert, command, now)
        case Acknowledge():
            if alert.status is AlertStatus.RESOLVED:
                raise AlertResolved(f"alert {alert.id} is resolved")
            if alert.status is AlertStatus.ACKNOWLEDGED:
                return []  # a second on-call tap changes nothing
            return [Acknowledged(command.staff_id, alert.current_level, now)]
        case Resolve():
            if alert.status is AlertStatus.RESOLVED:
                raise AlertResolved(f"alert {alert.id} is already resolved")
            return [Resolved(command.staff_id, command.outcome, now)]
        case RecordPageSent():
            page = _known_page(alert, command.page_id)
            return [
                PageSent(
                    page.page_id,
                    page.staff_id,
                    command.notification_id,
                    command.channel,
                    command.sent_at,
                )
            ]
        case RecordCallEnded():
            page = _known_page(alert, command.page_id)
            return [
                CallEnded(
                    page.page_id,
                    page.staff_id,
                    command.outcome,
                    command.answered_by,
                    command.ended_at,
                )
            ]
        case RecordPageFailed():
            page = _known_page(alert, command.page_id)
            return [
                PageFailed(
                    page.page_id,
                    page.staff_id,
                    command.notification_id,
                    command.channel,
                    command.attempts,
                    command.failed_at,
                )
            ]


def _join(alert: Alert, flag: ReceiveFlag, now: datetime) -> list[AlertEvent]:
    if not alert.is_active:
        raise AlertResolved(f"alert {alert.id} is resolved; a new flag opens a new alert")
    if not flag.risk_level.needs_alert:
        raise FlagBelowThreshold(f"risk level {flag.risk_level} does not join an alert")
    events: list[AlertEvent] = [FlagReceived(flag.flag_id, flag.risk_level, flag.source, now)]
    if flag.risk_level.rank > alert.risk_level.rank:
        events.append(LevelRaised(flag.flag_id, alert.risk_level, flag.risk_level, now))
        if alert.status is AlertStatus.ACKNOWLEDGED:
            # A higher risk is news the acknowledger has not seen (an accidental ACK, or one
            # given for the lower risk): they must take it again, or escalation resumes.
            roster = _Roster.of(flag, alert)
            events += _reopen(alert, REOPEN_RISK_RAISED, now, roster, flag.flag_id)
    # An alert that opened before its site had a policy starts paging once one exists.
    adopt = alert.policy is None and alert.status is AlertStatus.OPEN
    if adopt and flag.policy_in_force is not None:
        events.append(PolicyAdopted(flag.policy_in_force, now))
        events += _page_level(
            alert.id, flag.policy_in_force, FIRST_STEP, now, flag.flag_id, _Roster.of(flag, alert)
        )
    return events


def _escalate(alert: Alert, step: Step, now: datetime, roster: _Roster) -> list[AlertEvent]:
    if alert.escalation_due_at is None or alert.step != step or alert.policy is None:
        return []  # acknowledged, resolved, exhausted, or a timer of an earlier step
    return _move_on(alert.id, alert.policy, step, now, roster, skipped=0, round_=alert.reopens)


def _escalate_now(alert: Alert, command: EscalateNow, now: datetime) -> list[AlertEvent]:
    """The current step's deadline brought forward to now: the same `_move_on` as a timer's
    (skipped empty levels, repeat, fallback and exhaustion alike), after a step naming who
    asked. The pending timer is cancelled by `timers.follow` in the same transaction (the new
    step has its own); one a scheduler claimed meanwhile finds the step moved on."""
    if alert.status is AlertStatus.RESOLVED:
        raise AlertResolved(f"alert {alert.id} is resolved")
    if alert.status is AlertStatus.ACKNOWLEDGED:
        raise AlreadyAcknowledged(f"alert {alert.id} is acknowledged")
    if not any(page.staff_id == command.staff_id for page in alert.pages):
        raise NotPaged(f"staff member {command.staff_id} was not paged for alert {alert.id}")
    if alert.policy is None or alert.step is None or alert.exhausted:
        raise NothingToEscalate(f"alert {alert.id} has no further level to page")
    if command.from_step is not None and command.from_step != alert.step:
        raise AlreadyEscalated(f"alert {alert.id} already moved on", alert.step)
    step = alert.step
    asked = EscalatedByStaff(command.staff_id, step.level, step.cycle, now)
    roster = _Roster.of(command, alert)
    return [asked, *_move_on(alert.id, alert.policy, step, now, roster, 0, alert.reopens)]


def _reopen(
    alert: Alert, reason: AlertReopenReason, now: datetime, roster: _Roster, flag_id: UUID | None
) -> list[AlertEvent]:
    """The acknowledged alert opens again at the step where it was taken, and whoever took it
    is paged at once (a page of its own: the round is in its id). Their deadline is that
    level's `ack_timeout`; missed, escalation goes on from there. Someone deactivated since is
    skipped and the next step is paged now."""
    staff = alert.acknowledged_by
    assert staff is not None, "an acknowledged alert names who took it"
    round_ = alert.reopens + 1
    step = alert.step or Step(0, 0)  # no policy: a page outside any level
    events: list[AlertEvent] = [Reopened(staff, reason, step.level, step.cycle, now)]
    if staff not in roster.inactive:
        page_id = page_id_for(alert.id, step, staff, round_)
        return [*events, PageRequested(page_id, staff, step.level, step.cycle, flag_id, now)]
    events.append(PageSkipped(staff, step.level, step.cycle, STAFF_DEACTIVATED, now))
    if alert.policy is None or alert.step is None:
        return events
    return events + _move_on(alert.id, alert.policy, alert.step, now, roster, 0, round_)


def _move_on(
    alert_id: UUID,
    policy: EscalationPolicy,
    step: Step,
    now: datetime,
    roster: _Roster,
    skipped: int,
    round_: int = 0,
) -> list[AlertEvent]:
    """Leave `step` for the next one and page it (or find the chain exhausted)."""
    following = next_step(policy, step)
    if following is None:
        return _exhaust(alert_id, policy, step, now, roster, round_)
    moved: AlertEvent
    if following.cycle == step.cycle:
        moved = Escalated(following.level, following.cycle, now)
    else:
        moved = ChainRepeated(following.cycle, now)
    return [moved, *_page_level(alert_id, policy, following, now, None, roster, skipped, round_)]


def _page_level(
    alert_id: UUID,
    policy: EscalationPolicy,
    step: Step,
    now: datetime,
    flag_id: UUID | None,
    roster: _Roster,
    skipped: int = 0,
    round_: int = 0,
) -> list[AlertEvent]:
    """Page the level of `step`: its staff and whoever its schedules have on call now, except
    those booking deactivated (each a `page_skipped` step).

    A level left with nobody to page is skipped at once (not after its ack_timeout). Once every
    level has been skipped at this instant, another pass would find the same nobody: the chain
    is exhausted.
    """
    level = policy.level(step.level)
    resolved = [
        OnCallResolved(step.level, step.cycle, schedule, roster.on_call.get(schedule, ()), now)
        for schedule in level.schedule_ids
    ]
    people = list(dict.fromkeys([*level.staff_ids, *(s for r in resolved for s in r.staff_ids)]))
    if level.round_robin:
        pages = _round_robin_page(alert_id, step, people, now, flag_id, roster, round_)
    else:
        pages = _pages(alert_id, step, people, now, flag_id, roster.inactive, round_)
    if any(isinstance(page, PageRequested) for page in pages):
        return [*resolved, *pages]
    events: list[AlertEvent] = [*resolved, *pages, LevelSkipped(step.level, step.cycle, now)]
    if skipped + 1 >= len(policy.levels):
        return [*events, *_exhaust(alert_id, policy, step, now, roster, round_)]
    return events + _move_on(alert_id, policy, step, now, roster, skipped + 1, round_)


def _round_robin_page(
    alert_id: UUID,
    step: Step,
    people: list[UUID],
    now: datetime,
    flag_id: UUID | None,
    roster: _Roster,
    round_: int,
) -> list[AlertEvent]:
    """Page the one of `people` whose turn it is, passing over (each a `page_skipped` step)
    those who cannot be paged, and those this alert already paged while someone it did not
    page is left; nobody left: no page, and the caller skips the level as usual."""
    cannot_page = roster.inactive | roster.unreachable
    choice = choose(people, roster.turns.get(step.level, Turn()), cannot_page, roster.paged)
    passed = [
        (staff, STAFF_DEACTIVATED if staff in roster.inactive else STAFF_UNREACHABLE)
        for staff in choice.passed_over
    ]
    if choice.stood_in:
        passed += [(staff, ALREADY_PAGED) for staff in choice.kept_place]
    events: list[AlertEvent] = [
        PageSkipped(staff, step.level, step.cycle, reason, now) for staff, reason in passed
    ]
    if choice.staff_id is None or choice.next_turn is None:
        return events
    turn = RoundRobinTurn(
        step.level,
        step.cycle,
        choice.staff_id,
        choice.turn,
        len(people),
        choice.after_staff_id,
        now,
        everyone_paged=choice.everyone_paged,
        settled=choice.settled,
        rotation_after=choice.next_turn.last_staff_id,
        early=choice.next_turn.early,
    )
    page_id = page_id_for(alert_id, step, choice.staff_id, round_)
    paged = PageRequested(page_id, choice.staff_id, step.level, step.cycle, flag_id, now)
    return [*events, turn, paged]


def page_id_for(alert_id: UUID, step: Step, staff_id: UUID, round_: int = 0) -> UUID:
    """Stable per (alert, round, step, staff member): a replayed decision can never page twice,
    and a re-opened alert's pages (round 1, 2, …) never reuse an earlier page's id."""
    if round_ == 0:  # the ids of alerts never re-opened, as before rounds existed
        return uuid5(alert_id, f"page:{step.cycle}:{step.level}:{staff_id}")
    return uuid5(alert_id, f"page:{round_}:{step.cycle}:{step.level}:{staff_id}")


def _exhaust(
    alert_id: UUID,
    policy: EscalationPolicy,
    step: Step,
    now: datetime,
    roster: _Roster,
    round_: int = 0,
) -> list[AlertEvent]:
    """The chain ran out at `step`: the fallback staff are paged, and the alert stays open."""
    fallback = list(policy.fallback_staff_ids)
    return [
        Exhausted(step.level, step.cycle, now),
        *_pages(alert_id, fallback_step(policy), fallback, now, None, roster.inactive, round_),
    ]


def _pages(
    alert_id: UUID,
    step: Step,
    staff_ids: Iterable[UUID],
    now: datetime,
    flag_id: UUID | None,
    inactive: frozenset[UUID],
    round_: int = 0,
) -> list[AlertEvent]:
    """Page each of `staff_ids`, except those booking deactivated: the timeline names each one
    skipped, so the gap in the chain is visible."""
    return [
        PageSkipped(staff, step.level, step.cycle, STAFF_DEACTIVATED, now)
        if staff in inactive
        else PageRequested(
            page_id_for(alert_id, step, staff, round_),
            staff,
            step.level,
            step.cycle,
            flag_id,
            now,
        )
        for staff in staff_ids
    ]


def _known_page(alert: Alert, page_id: UUID) -> Page:
    page = alert.page(page_id)
    if page is None:
        raise UnknownPage(f"alert {alert.id} has no page {page_id}")
    return page


# --- evolve --------------------------------------------------------------------------------


def evolve(alert: Alert | None, event: AlertEvent) -> Alert | None:
    """Apply one event. Before `Opened` there is no alert yet (the opening flag comes first)."""
    if isinstance(event, Opened):
        return Alert(
            id=event.alert_id,
            client_id=event.client_id,
            site_id=event.site_id,
            risk_level=event.risk_level,
            status=AlertStatus.OPEN,
            opened_at=event.at,
            policy=event.policy,
            step=FIRST_STEP if event.policy else None,
            step_started_at=event.at if event.policy else None,
        )
    if alert is None:
        if isinstance(event, FlagReceived):
            return None
        raise ValueError(f"{type(event).__name__} before the alert opened")
    match event:
        case (
            FlagReceived()
            | NoPolicy()
            | OnCallResolved()
            | LevelSkipped()
            | PageSkipped()
            | CallEnded()
            | EscalatedByStaff()
            | RoundRobinTurn()
        ):
            return alert
        case PolicyAdopted():
            return replace(alert, policy=event.policy, step=FIRST_STEP, step_started_at=event.at)
        case LevelRaised():
            return replace(alert, risk_level=event.risk_level)
        case PageRequested():
            page = Page(
                event.page_id, event.staff_id, event.level, event.cycle, event.at, event.flag_id
            )
            return replace(alert, pages=(*alert.pages, page))
        case PageSent():
            return _update_page(alert, event.page_id, sent_at=event.at)
        case PageFailed():
            return _update_page(alert, event.page_id, failed_at=event.at)
        case Escalated():
            return replace(alert, step=Step(event.cycle, event.level), step_started_at=event.at)
        case ChainRepeated():
            return replace(alert, step=Step(event.cycle, 1), step_started_at=event.at)
        case Exhausted():
            return replace(alert, exhausted=True)
        case Acknowledged():
            return replace(
                alert,
                status=AlertStatus.ACKNOWLEDGED,
                acknowledged_by=event.staff_id,
                acknowledged_at=event.at,
            )
        case Reopened():
            return replace(
                alert,
                status=AlertStatus.OPEN,
                reopens=alert.reopens + 1,
                reopened_at=event.at,
                step_started_at=event.at if alert.step else None,
                exhausted=False,  # an exhausted alert taken then re-opened runs its last level
                acknowledged_by=None,
                acknowledged_at=None,
            )
        case Resolved():
            return replace(
                alert,
                status=AlertStatus.RESOLVED,
                resolved_by=event.staff_id,
                resolved_at=event.at,
                outcome=event.outcome,
            )
    raise AssertionError(f"unhandled event {event!r}")


def _update_page(
    alert: Alert,
    page_id: UUID,
    *,
    sent_at: datetime | None = None,
    failed_at: datetime | None = None,
) -> Alert:
    pages = tuple(
        replace(
            p,
            sent_at=p.sent_at or sent_at,  # the first channel that delivered
            failed_at=p.failed_at or failed_at,
        )
        if p.page_id == page_id
        else p
        for p in alert.pages
    )
    return replace(alert, pages=pages)


def fold(alert: Alert | None, events: Iterable[AlertEvent]) -> Alert | None:
    """`alert` after `events` (from nothing: the alert as its stored events describe it)."""
    for event in events:
        alert = evolve(alert, event)
    return alert
