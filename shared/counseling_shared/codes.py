"""Coded values shared by the public contract. Events carry these, never free text."""

from enum import StrEnum


class StaffRole(StrEnum):
    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    SITE_LEAD = "site_lead"
    CRISIS_LINE = "crisis_line"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    MESSAGING = "messaging"
    PHONE = "phone"


class Modality(StrEnum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    PHONE = "phone"


class GoalHorizon(StrEnum):
    SHORT_TERM = "short_term"
    LONG_TERM = "long_term"


class RiskLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"

    @property
    def rank(self) -> int:
        return _RISK_ORDER.index(self)

    def at_least(self, other: "RiskLevel") -> bool:
        return self.rank >= other.rank

    @property
    def needs_alert(self) -> bool:
        """Moderate or above opens a crisis alert (contract: RiskFlagged rules)."""
        return self.at_least(RiskLevel.MODERATE)


_RISK_ORDER = list(RiskLevel)  # declaration order is severity order


class RiskSource(StrEnum):
    INTEGRATION = "integration"
    BOOKING = "booking"
    FOLLOWUP = "followup"


class CancelledBy(StrEnum):
    CLIENT = "client"
    COUNSELOR = "counselor"
    CENTER = "center"


class SeriesSeatCancelCause(StrEnum):
    """Why a client's seats in a recurring group were cancelled together."""

    LEFT = "left"  # the client gave their seat in the series up
    SERIES_CANCELLED = "series_cancelled"  # the center cancelled the series


class ClosureReason(StrEnum):
    GOALS_MET = "goals_met"
    MOVED = "moved"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    REFERRED = "referred"
    CLIENT_WITHDREW = "client_withdrew"


class FollowUpKind(StrEnum):
    CHECKIN = "checkin"
    NO_SHOW_OUTREACH = "no_show_outreach"
    POST_CLOSURE = "post_closure"
    REGULARITY = "regularity"  # outreach after `max_contact_gap` without a positive contact
    SATISFACTION = "satisfaction"  # a rating request after a completed session
    REMINDER = "reminder"  # before a booked appointment


class FollowUpOutcome(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"
    DECLINED = "declined"
    RESPONDED = "responded"  # the client answered the check-in form themselves


class Instrument(StrEnum):
    """A standardised questionnaire a follow-up may ask (contract v2: `measures`)."""

    PHQ9 = "phq9"
    GAD7 = "gad7"


class MeasureBand(StrEnum):
    """Published severity bands of PHQ-9 and GAD-7 (GAD-7 has no `moderately_severe`)."""

    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


class Intensity(StrEnum):
    STANDARD = "standard"
    LIGHT = "light"
    PAUSED = "paused"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertReopenReason(StrEnum):
    """Why an acknowledged crisis alert opened again (`AlertReopened.reason`)."""

    RISK_RAISED = "risk_raised"
    ACK_EXPIRED = "ack_expired"


class AlertOutcome(StrEnum):
    SAFETY_PLAN = "safety_plan"
    REFERRED_EMERGENCY = "referred_emergency"
    REFERRED_HOSPITAL = "referred_hospital"
    POLICE = "police"
    NO_RISK_FOUND = "no_risk_found"


class NotificationChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    MESSAGING = "messaging"
    VOICE = "voice"  # a page's phone call (notify's PAGE_CALLS, Twilio's Calls API)
