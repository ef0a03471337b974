"""A staff member's text to the center's one number, which reaches notify's `POST /inbound/sms`
when one number serves clients and on-call staff.

notify takes for a client what it always did (STOP, START, HELP, C/X). It hands crisis
(`crisis.staff_replies`) an `ACK <code>`, `ESC <code>` or `RES <code> [n]` from anyone (only a
page's phone can acknowledge, escalate or resolve, and crisis knows staff phones), and any other
text (C or X aside) from a number that is an active staff member's phone, so a staff STOP is
recorded where the escalation policy reads it. A staff reply word alone that is also a
client's reminder word (ko `확인`, without its page's code) is crisis's too when it comes from
an active staff member's phone that no reminder ahead was sent to (`is_staff_word_for_crisis`):
crisis answers how to reply to a page. What crisis answers is texted back. Only a digest
of the number and coded values travel. A STOP or START is recorded by notify before crisis is
asked, whoever sent it: notify's send-time guard also covers pages.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from counseling_shared.staff_replies import (
    WITH_CODE,
    StaffCommand,
    StaffText,
    bare_reply_word,
    read,
    sender_digests,
)
from notify.adapters import sms_reminders
from notify.adapters.staff_phones import is_staff_phone, locale_of_staff_phone
from notify.domain.staff_unavailable import unavailable_text

if TYPE_CHECKING:
    import asyncpg


class StaffReplyUnavailable(Exception):
    """crisis did not answer (down, slow, or its database out of reach)."""


class NotStaff(Exception):
    """crisis knows no active staff member with this phone (its copy and notify's differ for
    a moment, or its digest is under a key no longer listed): a client's text after all."""


class StaffReplies(Protocol):
    async def ask(self, sender: Sequence[dict[str, str]], asked: StaffText) -> str: ...


@dataclass(frozen=True)
class StaffAnswer:
    command: StaffCommand
    outcome: Literal["answered", "unavailable"]
    reply: str | None  # None: answer as for a client (crisis did not answer a HELP)


async def is_staff_word_for_crisis(
    pool: "asyncpg.Pool[Any]", keys: Sequence[str], sender: str, text: str, now: datetime
) -> bool:
    """Whether a text that reads as a client's reminder word is a staff member's instead: a
    staff reply word alone (ko `확인` is also the client's confirm) from an active staff
    member's phone that is not also a client's with a reminder ahead (whose confirm it stays)."""
    return (
        bare_reply_word(text) is not None
        and await is_staff_phone(pool, sender)
        and not await sms_reminders.latest_by_client(pool, keys, sender, now)
    )


async def answer_staff_text(
    pool: "asyncpg.Pool[Any]",
    keys: Sequence[str],
    sender: str,
    text: str,
    crisis: StaffReplies,
) -> StaffAnswer | None:
    """crisis's answer to a staff text, or None when the text is not one for crisis (a
    client's: anything but an ACK, ESC or RES from a number that is no staff member's phone)."""
    asked = read(text)
    if asked.command not in WITH_CODE and not await is_staff_phone(pool, sender):
        return None
    try:
        reply = await crisis.ask(sender_digests(keys, sender), asked)
    except StaffReplyUnavailable:
        # An ACK, ESC or RES must never look as if it went through; said in the staff
        # member's language when the phone is theirs (anyone may send an ACK).
        locale = await locale_of_staff_phone(pool, sender)
        return StaffAnswer(asked.command, "unavailable", unavailable_text(asked.command, locale))
    except NotStaff:
        return None
    return StaffAnswer(asked.command, "answered", reply)
