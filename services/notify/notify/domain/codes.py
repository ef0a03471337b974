"""Coded values of notify's own model (the public ones live in counseling_shared.codes)."""

from collections.abc import Mapping
from enum import StrEnum


class Lane(StrEnum):
    """Which worker pool delivers a notification. Pages never wait behind bulk mail."""

    CRISIS = "crisis"
    BULK = "bulk"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    """No longer wanted: a page whose alert was acknowledged or resolved before it went out."""


class RecipientKind(StrEnum):
    CLIENT = "client"
    STAFF = "staff"


class AttemptOutcome(StrEnum):
    SENT = "sent"
    TRANSIENT_FAILURE = "transient_failure"
    PERMANENT_FAILURE = "permanent_failure"


class Template(StrEnum):
    FOLLOWUP_DUE = "followup_due"
    APPOINTMENT_BOOKED = "appointment_booked"
    APPOINTMENT_RESCHEDULED = "appointment_rescheduled"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    CRISIS_PAGE = "crisis_page"
    CONTACT_GAP = "contact_gap"  # to the counselor: a client drifted past the contact gap
    NEGATIVE_CONTACT = "negative_contact"  # to the site's supervisors: a cool-off started
    WAITLIST_OFFER = "waitlist_offer"
    CALLBACK_REQUESTED = "callback_requested"  # to the counselor: a client asked for contact
    ELEVATED_SCORE = "elevated_score"  # to the counselor: a PHQ-9 or GAD-7 of 10 or more
    MISSED_SESSION_FEE = "missed_session_fee"  # to the client: a no-show or late cancellation fee
    APPOINTMENT_SERIES_BOOKED = "appointment_series_booked"  # one per series, not per occurrence
    APPOINTMENT_SERIES_CANCELLED = "appointment_series_cancelled"
    GROUP_SERIES_SEAT_TAKEN = "group_series_seat_taken"  # one per client's seat in a series
    GROUP_SERIES_SEAT_CANCELLED = "group_series_seat_cancelled"  # they left, or it was cancelled
    SHIFT_SWAP_REQUESTED = "shift_swap_requested"  # to the colleagues a swap is offered to
    SHIFT_SWAP_TAKEN = "shift_swap_taken"  # to the requester: a colleague took it
    SHIFT_SWAP_ON_CALL = "shift_swap_on_call"  # to the taker: now on call in the requester's place
    SHIFT_SWAP_CANCELLED = "shift_swap_cancelled"  # to the colleagues it was offered to
    SHIFT_SWAP_EXPIRED = "shift_swap_expired"  # to the requester: nobody took it, still on call


def template_name(template: Template, params: Mapping[str, object]) -> str:
    """The name of the text a message is written from: its template's, and a follow-up's
    per kind (`followup_due_checkin`): one file per language of each."""
    if template is Template.FOLLOWUP_DUE:
        return f"{template.value}_{params.get('kind', 'checkin')}"
    return template.value


class HoldReason(StrEnum):
    QUIET_HOURS = "quiet_hours"
    CALL_DELAY = "call_delay"  # a page's call waits PAGE_CALL_DELAY for an acknowledgement


class ReceiptStatus(StrEnum):
    """What a provider's delivery receipt says became of a message it accepted."""

    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"

    @property
    def is_failure(self) -> bool:
        return self is not ReceiptStatus.DELIVERED
