"""`booking.reminder_replies`: notify asks booking to apply a client's C/X reply to a reminder
text (core NATS request-reply, an extension; only notify's bus user may ask).

Request and answer: `counseling_shared.reminder_replies`. Each request is audited with an
actor naming the reply (`service` `notify:sms-reply:<reminder id>`, never the number): a
change writes its entry in its own transaction, as an HTTP change does; a refusal writes one
after (404, 409 late-needs-repeat, 410 over or moved). Replicas share one queue group.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from nats.aio.msg import Msg
from prometheus_client import Counter

from booking.domain.manage import Announced
from booking.domain.scheduling.rules import Fee
from booking.entrypoints.directory import asker_of, directory_queue, request_id_of
from booking.entrypoints.sms_replies import ReplyAnswer, ReplyRequest, apply_reply, load
from counseling_shared import audit, audit_batch
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.reminder_replies import SUBJECT, ReplyAction, ReplyOutcome
from counseling_shared.service import Runtime

log = get_logger(__name__)
ANSWERS = Counter("booking_reminder_reply_answers", "Reminder replies by outcome.", ["outcome"])

_STATUS = {
    ReplyOutcome.CONFIRMED: 200,
    ReplyOutcome.ALREADY_CONFIRMED: 200,
    ReplyOutcome.CANCELLED: 200,
    ReplyOutcome.LATE_NEEDS_REPEAT: 409,
    ReplyOutcome.OVER: 410,
    ReplyOutcome.MOVED: 410,
    ReplyOutcome.NOT_FOUND: 404,
}


def parse_request(raw: bytes) -> ReplyRequest | None:
    """The request, or None for a malformed one."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            return None
        start = datetime.fromisoformat(str(data["start"]))
        if start.tzinfo is None:
            return None
        return ReplyRequest(
            reminder_id=UUID(str(data["reminder_id"])),
            appointment_id=UUID(str(data["appointment_id"])),
            client_id=UUID(str(data["client_id"])),
            start=start,
            action=ReplyAction(data["action"]),
            announced=_announced(data),
        )
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None


def _announced(data: dict[str, Any]) -> Announced | None:
    """The fee announced before this X (`shown_fee`, null: none), when `shown_late`. A
    request without `shown_fee` (a notify from before it was sent) counts as announcing no
    fee: a late cancellation with a fee is then announced again, never charged unannounced."""
    if data.get("shown_late") is not True:
        return None
    fee = data.get("shown_fee")
    if fee is None:
        return Announced(None)
    amount = Decimal(str(fee["amount"]))
    if not amount.is_finite():
        raise ValueError("fee amount")
    return Announced(Fee(amount, str(fee["currency"])))


def answer_of(answer: ReplyAnswer) -> dict[str, Any]:
    found = answer.appointment
    fee = answer.fee
    return {
        "outcome": answer.outcome.value,
        "start": found.start.isoformat() if found is not None else None,
        "fee": {"amount": str(fee.amount), "currency": fee.currency} if fee is not None else None,
    }


async def respond_to(runtime: Runtime, msg: Msg) -> dict[str, Any]:
    request = parse_request(msg.data)
    if request is None:
        return {"outcome": ReplyOutcome.BAD_REQUEST.value}
    actor = audit.Actor("service", f"{asker_of(msg.reply)}:sms-reply:{request.reminder_id}")
    with audit.audit_context(request_id_of(msg)) as context:
        audit.note_actor(actor, sees_free_text=False)
        action = f"sms_reply_{request.action.value}"

        def entry(status: int) -> audit.AuditEntry:
            return audit.AuditEntry(
                actor=actor,
                action=action,
                resource="appointments",
                resource_id=str(request.appointment_id),
                site_id=context.site_id,
                client_id=request.client_id,
                request_id=context.request_id,
                status=status,
            )

        context.entry_for_commit = lambda _about: entry(200)
        try:
            found = await load(runtime, request)
            if found is not None:
                audit.note_site(found.site_id)
            answer = (
                await apply_reply(runtime, request, found)
                if found is not None
                else ReplyAnswer(ReplyOutcome.NOT_FOUND)
            )
            if context.committed is None:  # nothing changed: the refusal is recorded alone
                await audit_batch.record(runtime.db(), entry(_STATUS[answer.outcome]))
        except DATABASE_ERRORS as exc:
            log.warning("reminder_reply_unavailable", error=type(exc).__name__)
            return {"outcome": ReplyOutcome.UNAVAILABLE.value}
    log.info(
        "reminder_reply",
        reminder_id=str(request.reminder_id),
        appointment_id=str(request.appointment_id),
        outcome=answer.outcome.value,
    )
    return answer_of(answer)


async def serve_reminder_replies(runtime: Runtime) -> None:
    """`on_start` hook: subscribe the responder in the replicas' shared queue group."""
    queue = f"{directory_queue(runtime)}-replies"

    async def respond(msg: Msg) -> None:
        try:
            reply = await respond_to(runtime, msg)
        except Exception:  # an answer all the same: notify tells the client to try later
            log.exception("reminder_reply_failed")
            reply = {"outcome": ReplyOutcome.UNAVAILABLE.value}
        ANSWERS.labels(reply["outcome"]).inc()
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    await runtime.nats().subscribe(SUBJECT, queue=queue, cb=respond)
    log.info("reminder_replies_serving", subject=SUBJECT, queue=queue)
