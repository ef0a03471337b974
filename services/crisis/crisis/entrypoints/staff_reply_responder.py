"""`crisis.staff_replies`: a staff member's text to the center's one number, which notify
took in and hands over (core NATS request-reply, an extension; only notify's bus user may
ask). Request and answer: `counseling_shared.staff_replies`. A STOP or START from a phone
that is no active staff member's is answered `not_staff` (notify's copy of the staff thought
otherwise: notify then answers as for a client).

The same handling as `POST /inbound/sms` (`answer_text`), the same audit: action
`inbound_sms`, resource `inbound`, actor `service` `notify:inbound-sms` until the phone
matches a staff member (then that member, as a text posted to crisis is). A change writes its
entry in its own transaction; anything else writes one after. No rate budget of its own:
only notify asks, and each request spent notify's provider budget (`sms-provider`).
Replicas share one queue group.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from nats.aio.msg import Msg
from prometheus_client import Counter

from counseling_shared import audit, audit_batch
from counseling_shared.codes import AlertOutcome
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime
from counseling_shared.staff_replies import SUBJECT, WITH_CODE, StaffCommand, StaffText
from crisis.application.sms_replies import NOT_STAFF, Sender
from crisis.entrypoints.inbound_sms import answer_text
from crisis.settings import CrisisSettings

log = get_logger(__name__)
ANSWERS = Counter(
    "crisis_staff_reply_answers", "Staff texts notify handed over, by answer.", ["outcome"]
)
QUEUE = "crisis-staff-replies"
ACTOR = audit.Actor("service", "notify:inbound-sms")
_DIGEST_CHARS = frozenset("0123456789abcdef")
_UNAVAILABLE: tuple[type[Exception], ...] = (*DATABASE_ERRORS, audit.AuditUnavailable)


def parse_request(raw: bytes) -> tuple[list[tuple[str, str]], StaffText] | None:
    """The sender's (key fingerprint, digest) pairs and what the text asks, or None."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("sender"), list):
            return None
        given = [(str(d["key"]), str(d["digest"])) for d in data["sender"][:8]]
        if not given or any(len(d) != 64 or not set(d) <= _DIGEST_CHARS for _, d in given):
            return None
        command = StaffCommand(data["command"])
        code = data.get("code")
        if command in WITH_CODE:
            if not (isinstance(code, str) and len(code) == 6 and code.isalnum()):
                return None
            outcome = data.get("resolve_outcome")
            if outcome is not None and command is not StaffCommand.RESOLVE:
                return None
            chosen = AlertOutcome(outcome) if outcome is not None else None
            return given, StaffText(command, code.upper(), chosen)
        return given, StaffText(command)
    except (ValueError, KeyError, TypeError):
        return None


def _request_id(msg: Msg) -> str:
    """The asker's trace id (W3C `traceparent`), so the entry joins notify's trace."""
    parts = (msg.headers or {}).get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else uuid4().hex


async def respond_to(runtime: Runtime, msg: Msg) -> dict[str, Any]:
    request = parse_request(msg.data)
    if request is None:
        return {"outcome": "bad_request"}
    given, asked = request
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    sender = Sender.of_digests(settings.link_keys, given)
    with audit.audit_context(_request_id(msg)) as context:
        audit.note_actor(ACTOR)

        def entry(_about: object = None) -> audit.AuditEntry:
            assert context.actor is not None
            return audit.AuditEntry(
                actor=context.actor,
                action="inbound_sms",
                resource="inbound",
                resource_id=None,
                site_id=context.site_id,
                client_id=None,
                request_id=context.request_id,
                status=200,
            )

        context.entry_for_commit = entry
        try:
            msgid, reply = await answer_text(runtime, sender, asked)
            if context.committed is None:  # nothing changed: the entry is written alone
                await audit_batch.record(runtime.db(), entry())
        except _UNAVAILABLE as exc:
            log.warning("staff_reply_unavailable", error=type(exc).__name__)
            return {"outcome": "unavailable"}
    log.info("staff_reply", command=asked.command.value, staff=msgid != NOT_STAFF)
    if msgid == NOT_STAFF:  # on the shared number, "this number only pages staff" is untrue
        return {"outcome": "not_staff"}
    return {"outcome": "answered", "reply": reply}


async def serve_staff_replies(runtime: Runtime) -> None:
    """`on_start` hook: subscribe the responder in the replicas' shared queue group."""

    async def respond(msg: Msg) -> None:
        try:
            reply = await respond_to(runtime, msg)
        except Exception:  # an answer all the same: notify tells the sender to try again
            log.exception("staff_reply_failed")
            reply = {"outcome": "unavailable"}
        ANSWERS.labels(reply["outcome"]).inc()
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    await runtime.nats().subscribe(SUBJECT, queue=QUEUE, cb=respond)
    log.info("staff_replies_serving", subject=SUBJECT, queue=QUEUE)
