"""The alert's own events. Each one is a step of the alert's timeline (its audit trail).

These stay inside crisis (event store and `alert_timeline`); the public events that cross the bus
are in `counseling_shared.events`. They hold ids, coded values and instants only, never free text
about the client, so the timeline can be shown and logged as it is.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from counseling_shared.codes import AlertOutcome, AlertReopenReason, RiskLevel, RiskSource
from crisis.domain.policy import EscalationPolicy


@dataclass(frozen=True)
class FlagReceived:
    flag_id: UUID
    risk_level: RiskLevel
    source: RiskSource
    at: datetime


@dataclass(frozen=True)
class Opened:
    """The alert opened; `policy` is the site's policy frozen onto it (None: the site has none)."""

    alert_id: UUID
    client_id: UUID
    site_id: UUID
    risk_level: RiskLevel
    policy: EscalationPolicy | None
    at: datetime


@dataclass(frozen=True)
class NoPolicy:
    """Nobody could be paged: the site had no escalation policy."""

    at: datetime


@dataclass(frozen=True)
class PolicyAdopted:
    """The alert opened without a policy and the site has one now (a flag joined, the policy
    was set, or the auditor found it)."""

    policy: EscalationPolicy
    at: datetime


@dataclass(frozen=True)
class LevelRaised:
    flag_id: UUID
    previous_risk_level: RiskLevel
    risk_level: RiskLevel
    at: datetime


@dataclass(frozen=True)
class PageRequested:
    """One staff member paged. `flag_id` is set when a flag caused it (not a missed deadline)."""

    page_id: UUID
    staff_id: UUID
    level: int
    cycle: int
    flag_id: UUID | None
    at: datetime


@dataclass(frozen=True)
class OnCallResolved:
    """A schedule of the level being paged was asked who is on call now (maybe nobody)."""

    level: int
    cycle: int
    schedule_id: UUID
    staff_ids: tuple[UUID, ...]
    at: datetime


@dataclass(frozen=True)
class LevelSkipped:
    """The level resolved to nobody to page (its schedules had nobody on call, or everyone it
    named was deactivated): skipped at once."""

    level: int
    cycle: int
    at: datetime


@dataclass(frozen=True)
class PageSkipped:
    """A staff member of the level being paged was not paged: booking deactivated them."""

    staff_id: UUID
    level: int
    cycle: int
    reason: str
    at: datetime


STAFF_DEACTIVATED = "staff_deactivated"
STAFF_UNREACHABLE = "no_contact"
"""A round-robin level passes over someone with neither phone nor email known to booking."""
ALREADY_PAGED = "already_paged"
"""A round-robin level passes over someone this alert already paged (an earlier level or
pass): the next in turn it has not paged stands in, and they keep their place."""


@dataclass(frozen=True)
class RoundRobinTurn:
    """A round-robin level paged one of its `pool` people: `staff_id`, on the level's `turn`
    at the site (counting this one), the next after `after_staff_id` (who had the previous turn;
    None: nobody yet, or no longer among the level's people). Those passed over (deactivated,
    unreachable, or already paged by this alert) each have a `page_skipped` step before it.

    `everyone_paged`: the alert had paged everyone in the level who can be paged, so the person
    whose turn it was is paged again. `settled`: people passed over because they took this turn
    early (standing in for someone an earlier alert had paged). Where the rotation stands
    after this turn (`rotation_after`, `early`) is what `round_robin_turns` keeps; absent in
    steps stored before stand-ins existed (the rotation then stood after `staff_id`)."""

    level: int
    cycle: int
    staff_id: UUID
    turn: int
    pool: int
    after_staff_id: UUID | None
    at: datetime
    everyone_paged: bool = False
    settled: tuple[UUID, ...] = ()
    rotation_after: UUID | None = None
    early: tuple[UUID, ...] = ()


@dataclass(frozen=True)
class PageSent:
    page_id: UUID
    staff_id: UUID
    notification_id: UUID
    channel: str
    at: datetime


@dataclass(frozen=True)
class PageFailed:
    page_id: UUID
    staff_id: UUID
    notification_id: UUID
    channel: str
    attempts: int
    at: datetime


@dataclass(frozen=True)
class CallEnded:
    """A page's phone call ended (Twilio's status callback): `outcome` is Twilio's coded
    `CallStatus` (`completed`, `no_answer`, `busy`, `failed`, `canceled`), `answered_by`
    its machine detection (`human`, `machine`, `unknown`; None without it). Never an
    acknowledgement: only the key press is (a voicemail also "completes" a call)."""

    page_id: UUID
    staff_id: UUID
    outcome: str
    answered_by: str
    at: datetime


@dataclass(frozen=True)
class Escalated:
    """A deadline passed without an acknowledgement: the next level is paged."""

    level: int
    cycle: int
    at: datetime


@dataclass(frozen=True)
class EscalatedByStaff:
    """A staff member paged for the alert could not take it and asked to escalate now: the
    step (`level` of pass `cycle`) is left at once, as if its ack_timeout had passed; what
    follows (`escalated`, `chain_repeated` or `exhausted`, and the pages) comes next."""

    staff_id: UUID
    level: int
    cycle: int
    at: datetime


@dataclass(frozen=True)
class ChainRepeated:
    """The last level's deadline passed: the chain starts again at level 1."""

    cycle: int
    at: datetime


@dataclass(frozen=True)
class Acknowledged:
    staff_id: UUID
    level: int
    at: datetime


@dataclass(frozen=True)
class Reopened:
    """An acknowledged alert is open again and its acknowledger is paged at once: a flag raised
    its risk level (`risk_raised`), or the acknowledgement expired unresolved (`ack_expired`,
    the policy's `ack_expires_after`). Escalation resumes from `level` of pass `cycle`."""

    staff_id: UUID
    reason: AlertReopenReason
    level: int
    cycle: int
    at: datetime


REOPEN_RISK_RAISED = AlertReopenReason.RISK_RAISED
REOPEN_ACK_EXPIRED = AlertReopenReason.ACK_EXPIRED


@dataclass(frozen=True)
class Resolved:
    staff_id: UUID
    outcome: AlertOutcome
    at: datetime


@dataclass(frozen=True)
class Exhausted:
    """Every level of every pass was paged without an acknowledgement; the alert stays open."""

    level: int
    cycle: int
    at: datetime


AlertEvent = (
    FlagReceived
    | Opened
    | NoPolicy
    | PolicyAdopted
    | LevelRaised
    | PageRequested
    | OnCallResolved
    | LevelSkipped
    | PageSkipped
    | RoundRobinTurn
    | PageSent
    | PageFailed
    | CallEnded
    | Escalated
    | EscalatedByStaff
    | ChainRepeated
    | Acknowledged
    | Resolved
    | Exhausted
    | Reopened
)

EVENT_TYPES: tuple[type[AlertEvent], ...] = (
    FlagReceived,
    Opened,
    NoPolicy,
    PolicyAdopted,
    LevelRaised,
    PageRequested,
    OnCallResolved,
    LevelSkipped,
    PageSkipped,
    PageSent,
    PageFailed,
    CallEnded,
    Escalated,
    EscalatedByStaff,
    ChainRepeated,
    Acknowledged,
    Resolved,
    Exhausted,
    Reopened,
    RoundRobinTurn,
)

_KINDS: dict[type[AlertEvent], str] = {
    FlagReceived: "flag_received",
    Opened: "opened",
    NoPolicy: "no_policy",
    PolicyAdopted: "policy_adopted",
    LevelRaised: "level_raised",
    PageRequested: "page_requested",
    OnCallResolved: "oncall_resolved",
    LevelSkipped: "level_skipped",
    PageSkipped: "page_skipped",
    PageSent: "page_sent",
    PageFailed: "page_failed",
    CallEnded: "call_ended",
    Escalated: "escalated",
    EscalatedByStaff: "escalated_by_staff",
    ChainRepeated: "chain_repeated",
    Acknowledged: "acknowledged",
    Resolved: "resolved",
    Exhausted: "exhausted",
    Reopened: "reopened",
    RoundRobinTurn: "round_robin_turn",
}


def kind_of(event: AlertEvent) -> str:
    """The timeline kind of an event (`flag_received`, `page_requested`, …)."""
    return _KINDS[type(event)]


def timeline_details(event: AlertEvent) -> dict[str, Any]:
    """What the timeline shows of an event besides `at` and `kind`: ids and coded levels only."""
    match event:
        case FlagReceived():
            return {
                "flag_id": event.flag_id,
                "risk_level": event.risk_level,
                "source": event.source,
            }
        case Opened():
            levels = len(event.policy.levels) if event.policy else 0
            return {"risk_level": event.risk_level, "policy_levels": levels}
        case PolicyAdopted():
            return {"policy_levels": len(event.policy.levels)}
        case LevelRaised():
            return {
                "flag_id": event.flag_id,
                "previous_risk_level": event.previous_risk_level,
                "risk_level": event.risk_level,
            }
        case PageRequested():
            return {
                "page_id": event.page_id,
                "staff_id": event.staff_id,
                "level": event.level,
                "cycle": event.cycle,
            }
        case OnCallResolved():
            return {
                "level": event.level,
                "cycle": event.cycle,
                "schedule_id": event.schedule_id,
                "staff_ids": list(event.staff_ids),
            }
        case LevelSkipped():
            return {"level": event.level, "cycle": event.cycle}
        case PageSkipped():
            return {
                "staff_id": event.staff_id,
                "level": event.level,
                "cycle": event.cycle,
                "reason": event.reason,
            }
        case RoundRobinTurn():
            return {
                "staff_id": event.staff_id,
                "level": event.level,
                "cycle": event.cycle,
                "turn": event.turn,
                "pool": event.pool,
                "after_staff_id": event.after_staff_id,
                "everyone_paged": event.everyone_paged,
                "settled": list(event.settled),
            }
        case PageSent():
            return {
                "page_id": event.page_id,
                "staff_id": event.staff_id,
                "notification_id": event.notification_id,
                "channel": event.channel,
            }
        case PageFailed():
            return {
                "page_id": event.page_id,
                "staff_id": event.staff_id,
                "notification_id": event.notification_id,
                "channel": event.channel,
                "attempts": event.attempts,
            }
        case CallEnded():
            return {
                "page_id": event.page_id,
                "staff_id": event.staff_id,
                "outcome": event.outcome,
                "answered_by": event.answered_by,
            }
        case Escalated() | Exhausted():
            return {"level": event.level, "cycle": event.cycle}
        case ChainRepeated():
            return {"level": 1, "cycle": event.cycle}
        case Acknowledged():
            return {"staff_id": event.staff_id, "level": event.level}
        case EscalatedByStaff():
            return {"staff_id": event.staff_id, "level": event.level, "cycle": event.cycle}
        case Resolved():
            return {"staff_id": event.staff_id, "outcome": event.outcome}
        case Reopened():
            return {
                "staff_id": event.staff_id,
                "reason": event.reason,
                "level": event.level,
                "cycle": event.cycle,
            }
        case NoPolicy():
            return {}
