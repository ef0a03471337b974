"""Asks booking to apply a client's C/X reply to a reminder (`booking.reminder_replies`, core
NATS request-reply; `counseling_shared.reminder_replies`)."""

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

from counseling_shared.reminder_replies import SUBJECT, ReplyOutcome
from counseling_shared.tracing import current_trace_headers
from notify.application.reminder_replies import BookingAnswer, ReplyAsked, ReplyUnavailable

_ANSWERED = frozenset(ReplyOutcome) - {ReplyOutcome.UNAVAILABLE, ReplyOutcome.BAD_REQUEST}


class NatsReminderReplies:
    def __init__(self, nc: NatsClient, timeout: float = 3.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def apply(self, asked: ReplyAsked) -> BookingAnswer:
        request = {
            "reminder_id": str(asked.reminder_id),
            "appointment_id": str(asked.appointment_id),
            "client_id": str(asked.client_id),
            "start": asked.start.isoformat(),
            "action": asked.action.value,
            "shown_late": asked.shown_late,
            # The fee the client agreed to: booking cancels with no other.
            "shown_fee": _fee(asked.shown_fee),
        }
        try:
            reply = await self._nc.request(
                SUBJECT,
                json.dumps(request).encode(),
                timeout=self._timeout,
                headers=current_trace_headers() or None,
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # No answer: booking may be restarting. Whether it acted is unknown; it acts at
            # most once per reply (confirm is idempotent, a cancel is refused a second time).
            raise ReplyUnavailable(type(exc).__name__) from None
        return parse_answer(reply.data)


def _fee(fee: tuple[str, str] | None) -> dict[str, str] | None:
    return {"amount": fee[0], "currency": fee[1]} if fee is not None else None


def parse_answer(raw: bytes) -> BookingAnswer:
    try:
        answer: Any = json.loads(raw)
        outcome = ReplyOutcome(answer["outcome"])
    except (ValueError, KeyError, TypeError):
        raise ReplyUnavailable("unreadable answer") from None
    if outcome not in _ANSWERED:
        raise ReplyUnavailable(outcome.value)
    start, fee = answer.get("start"), answer.get("fee")
    try:
        amount = (str(Decimal(str(fee["amount"]))), str(fee["currency"])) if fee else None
    except (InvalidOperation, KeyError, TypeError):
        raise ReplyUnavailable("unreadable fee") from None
    return BookingAnswer(outcome, str(start) if start else None, amount)
