"""A page's phone call (notify's `PAGE_CALLS`): which page a call is about, and what a key pressed
during it does.

A call is known by what Twilio posts back: the number called (`To`, the staff member's phone,
matched by its keyed digest as an SMS reply's sender is) and the reply code in the URL crisis
gave notify. A key 1 acknowledges (key 3 escalates now) through the very function that handles
an `ACK <code>` (`ESC <code>`) text, so a call can only acknowledge the alert of a page sent to
the phone that was called, as that page's staff member.
"""

import re
from collections.abc import Sequence
from typing import Any

from counseling_shared import staff_replies
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import alert_views, staff
from crisis.application.publishing import Paging, reply_code
from crisis.application.sms_replies import (
    ACKNOWLEDGED,
    ESCALATED,
    ESCALATED_TO_FALLBACK,
    MOVED_ON,
    NOTHING_TO_ESCALATE,
    UNKNOWN,
    Sender,
    handle_reply,
)
from crisis.domain.phones import phone_digest

_CODE = re.compile(r"^[0-9A-F]{6}$")

TERMINAL_STATUSES = frozenset({"completed", "no_answer", "busy", "failed", "canceled"})
"""Twilio's final `CallStatus` values (`no-answer` written `no_answer`); the others
(`queued`, `ringing`, `in-progress`) are on the way and not recorded."""


def valid_code(code: str) -> str | None:
    code = code.strip().upper()
    return code if _CODE.match(code) else None


def answered_by(value: str) -> str | None:
    """Twilio's machine detection, coded: `human`, `machine` (any `machine_*`, a fax too) or
    `unknown`; None when the call had no detection."""
    if not value:
        return None
    if value.startswith("machine") or value == "fax":
        return "machine"
    return "human" if value == "human" else "unknown"


def call_outcome(status: str, by: str | None) -> str:
    """The metric's outcome: a completed call answered by a machine is a voicemail."""
    if status == "completed":
        return "voicemail" if by == "machine" else "answered"
    return status


async def called_page(
    uow: UnitOfWork, phone_keys: Sequence[str], called: str, code: str
) -> dict[str, Any] | None:
    """The latest page with `code` to the staff member whose phone was called; None when the
    number is no staff member's or no page of theirs has that code."""
    digests = [phone_digest(key, called) for key in phone_keys]
    matches = await staff.with_phone_digest(uow.conn, digests)
    if not matches:
        return None
    page = await alert_views.page_with_code(uow.conn, [m.staff_id for m in matches], code)
    if page is None or reply_code(page["page_id"]) != code:
        return None
    return page


async def acknowledge_by_key(
    uow: UnitOfWork, phone_keys: Sequence[str], called: str, code: str, paging: Paging
) -> str:
    """Key 1: handled as the called phone's `ACK <code>` text. Answers `acknowledged`,
    `already` (taken or resolved before) or `unknown`."""
    sender = Sender.of_phone(phone_keys, called)
    answer = await handle_reply(uow, sender, staff_replies.read(f"ACK {code}"), paging)
    if answer.msgid == ACKNOWLEDGED:
        return "acknowledged"
    return "unknown" if answer.msgid == UNKNOWN else "already"


async def escalate_by_key(
    uow: UnitOfWork, phone_keys: Sequence[str], called: str, code: str, paging: Paging
) -> str:
    """Key 3: handled as the called phone's `ESC <code>` text. Answers `escalated`,
    `moved_on` (the alert left the page's level, or has none further), `already` (taken or
    resolved before) or `unknown`."""
    sender = Sender.of_phone(phone_keys, called)
    answer = await handle_reply(uow, sender, staff_replies.read(f"ESC {code}"), paging)
    if answer.msgid in (ESCALATED, ESCALATED_TO_FALLBACK):
        return "escalated"
    if answer.msgid in (MOVED_ON, NOTHING_TO_ESCALATE):
        return "moved_on"
    return "unknown" if answer.msgid == UNKNOWN else "already"
