"""Hands a staff member's text to crisis (`crisis.staff_replies`, core NATS request-reply;
`counseling_shared.staff_replies`) and reads back the text crisis answers."""

import json
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.aio.client import Client as NatsClient

from counseling_shared.staff_replies import SUBJECT, StaffText
from counseling_shared.tracing import current_trace_headers
from notify.application.staff_replies import NotStaff, StaffReplyUnavailable


class NatsStaffReplies:
    def __init__(self, nc: NatsClient, timeout: float = 3.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def ask(self, sender: Sequence[dict[str, str]], asked: StaffText) -> str:
        try:
            reply = await self._nc.request(
                SUBJECT,
                json.dumps(asked.as_request(sender)).encode(),
                timeout=self._timeout,
                headers=current_trace_headers() or None,
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # No answer (crisis down: no responders, at once; slow: the timeout). Whether it
            # acted is unknown: an ACK sent again is answered "already acknowledged by you".
            raise StaffReplyUnavailable(type(exc).__name__) from None
        return parse_answer(reply.data)


def parse_answer(raw: bytes) -> str:
    try:
        answer: Any = json.loads(raw)
        outcome, text = answer["outcome"], answer.get("reply")
    except (ValueError, KeyError, TypeError):
        raise StaffReplyUnavailable("unreadable answer") from None
    if outcome == "not_staff":
        raise NotStaff()
    if outcome != "answered" or not isinstance(text, str) or not text:
        raise StaffReplyUnavailable(str(outcome))
    return text
