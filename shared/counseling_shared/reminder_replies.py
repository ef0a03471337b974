"""A client's reply to a reminder SMS (C to confirm, X to cancel), as notify asks booking to
apply it over core NATS request-reply on `booking.reminder_replies` (an extension).

Request: `{"reminder_id", "appointment_id", "client_id", "start", "action", "shown_late",
"shown_fee"}`: the reminder (notify's notification id) the reply maps to, the appointment and
client it was sent for, the start it named (a reschedule since then: `moved`), `confirm` or
`cancel`, whether the client was already told this cancellation is late (their second X) and
with which fee (`{"amount", "currency"}` or null): a different fee now is announced again
(`late_needs_repeat`), never charged.
Answer: `{"outcome", "start", "fee"}`; `fee` `{"amount", "currency"}` or null. No phone number
and no text of the client's ever crosses the bus.
"""

from enum import StrEnum

from counseling_shared.busauth import REMINDER_REPLIES_SUBJECT as SUBJECT

__all__ = ["SUBJECT", "ReplyAction", "ReplyOutcome"]


class ReplyAction(StrEnum):
    CONFIRM = "confirm"
    CANCEL = "cancel"


class ReplyOutcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    CANCELLED = "cancelled"  # with `fee` when it was late
    LATE_NEEDS_REPEAT = "late_needs_repeat"  # late: nothing done, `fee` to announce first
    OVER = "over"  # started, completed, missed or cancelled before: nothing to do
    MOVED = "moved"  # rescheduled since the reminder: the reminder's time is not the booking's
    NOT_FOUND = "not_found"  # no such appointment of that client
    UNAVAILABLE = "unavailable"  # booking's database out of reach: ask again later
    BAD_REQUEST = "bad_request"
