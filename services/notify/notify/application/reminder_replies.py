"""A client's C/X reply to a reminder text: found by the number's digest, applied by booking.

The reply acts on that number's most recent reminder whose appointment has not started
(`sms_reminders`), so a spoofed sender can at most act on the reminders sent to the number it
claims, and only while that number is still the client's (booking's directory is asked: a
number the client has since replaced acts on nothing). A number that texted STOP gets the
STOP answer and nothing is done. A late X is answered with the fee and noted on the
reminder's row (`cancel_asked_at`, with the fee announced): a second X within
`LATE_REPEAT_WINDOW` asks booking to cancel with that fee and no other (a fee changed since is
announced instead, and the window starts again), but not one within `LATE_REPEAT_EARLIEST`
(sent before the fee could be read); later, the fee is announced again. A number with
upcoming reminders for more than one client (a household's phone) acts on nothing and names
no one: the reply cannot say whose appointment it means. booking out of reach: nothing is
recorded here, and the answer says to try again or use the link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from counseling_shared.reminder_replies import ReplyAction, ReplyOutcome
from counseling_shared.sms_keywords import Keyword
from notify.adapters import opt_outs, sms_reminders
from notify.adapters.sms_reminders import Fee, SentReminder
from notify.adapters.templates import formatters_for
from notify.application.ports import (
    ClientContact,
    ClientDirectory,
    ClientNotFound,
    ContactAnswer,
    DirectoryUnavailable,
)
from notify.domain.quiet_hours import zone_named
from notify.domain.reminder_replies import (
    ReplyWord,
    repeats_after_announcement,
    reply_text,
    too_soon_after_announcement,
)
from notify.domain.sms_replies import reply_to

if TYPE_CHECKING:
    import asyncpg

log = get_logger(__name__)


@dataclass(frozen=True)
class ReplyAsked:
    reminder_id: UUID
    appointment_id: UUID
    client_id: UUID
    start: datetime
    action: ReplyAction
    shown_late: bool
    shown_fee: Fee | None = None  # with `shown_late`: the fee announced (None: none)


@dataclass(frozen=True)
class BookingAnswer:
    outcome: ReplyOutcome
    start: str | None  # the appointment's start now (ISO 8601)
    fee: Fee | None  # amount, ISO 4217 currency


class ReplyUnavailable(Exception):
    """booking did not answer (or could not act): nothing is known to have changed."""


class ReminderReplies(Protocol):
    async def apply(self, asked: ReplyAsked) -> BookingAnswer: ...


@dataclass(frozen=True)
class Answered:
    reply: str
    outcome: str  # a ReplyOutcome, or `no_reminder`, `shared_number`, `opted_out`, `unavailable`


async def answer_reply(
    pool: asyncpg.Pool[Any],
    keys: Sequence[str],
    phone: str,
    word: ReplyWord,
    booking: ReminderReplies,
    clock: Clock,
    directory: ClientDirectory,
) -> Answered:
    now = clock.now()
    language = word.language or "en"
    if await opt_outs.is_opted_out(pool, keys, phone):
        return Answered(reply_to(Keyword.STOP, language), "opted_out")
    sent = await sms_reminders.latest_by_client(pool, keys, phone, now)
    if not sent:
        return Answered(reply_text("no_reminder", language), "no_reminder")
    try:
        reminders = await _still_theirs(directory, sent, phone)
    except DirectoryUnavailable:
        return Answered(_text("unavailable", sent[0], None), "unavailable")
    if not reminders:
        return Answered(reply_text("no_reminder", language), "no_reminder")
    if len(reminders) > 1:
        # One phone, several clients' reminders ahead (a household): whose reply this is
        # cannot be told, so nothing is done, and neither a name nor a time is given.
        shared = word.language or reminders[0].locale
        return Answered(reply_text("shared_number", shared), "shared_number")
    [reminder] = reminders
    asked_at = reminder.cancel_asked_at
    shown_late = word.action is ReplyAction.CANCEL and repeats_after_announcement(asked_at, now)
    asked = ReplyAsked(
        reminder.notification_id,
        reminder.appointment_id,
        reminder.client_id,
        reminder.appointment_start,
        word.action,
        shown_late,
        reminder.announced_fee if shown_late else None,
    )
    try:
        answer = await booking.apply(asked)
    except ReplyUnavailable as exc:
        log.warning("reminder_reply_unanswered", reminder_id=str(asked.reminder_id), error=str(exc))
        return Answered(_text("unavailable", reminder, None), "unavailable")
    if answer.outcome is ReplyOutcome.LATE_NEEDS_REPEAT:
        same_fee = asked_at is not None and _same_fee(answer.fee, reminder.announced_fee)
        # The same fee again, too soon to have been read: the window keeps its start. A first
        # announcement, one after the window or a new fee: the window starts with this fee.
        if not (same_fee and too_soon_after_announcement(asked_at, now)):
            await sms_reminders.note_cancel_asked(pool, reminder.notification_id, now, answer.fee)
    elif asked_at is not None:
        await sms_reminders.note_cancel_asked(pool, reminder.notification_id, None)
    return Answered(_text(_key(answer), reminder, answer), answer.outcome.value)


async def _still_theirs(
    directory: ClientDirectory, sent: Sequence[SentReminder], phone: str
) -> list[SentReminder]:
    """The reminders whose client still has this number (booking's directory): a number a
    client has since replaced (given up, a shared phone left behind) acts on nothing of
    theirs. Several clients: one batched request. Raises DirectoryUnavailable (booking could
    not say for one of them: whose the number is stays unknown)."""
    answers: list[ContactAnswer]
    if len(sent) == 1:
        try:
            answers = [await directory.contact(sent[0].client_id)]
        except ClientNotFound as exc:
            answers = [exc]
    else:
        answers = await directory.contacts([r.client_id for r in sent])
    kept = []
    for reminder, answer in zip(sent, answers, strict=True):
        if isinstance(answer, DirectoryUnavailable):
            raise answer
        if isinstance(answer, ClientContact) and _same_number(answer.phone, phone):
            kept.append(reminder)
    return kept


def _same_number(current: str | None, sender: str) -> bool:
    return current is not None and normalise_phone(current) == normalise_phone(sender)


def _same_fee(a: Fee | None, b: Fee | None) -> bool:
    if a is None or b is None:
        return a is b
    return Decimal(a[0]) == Decimal(b[0]) and a[1] == b[1]


def _key(answer: BookingAnswer) -> str:
    outcome = answer.outcome
    if outcome is ReplyOutcome.CANCELLED and answer.fee:
        return "cancelled_fee"
    if outcome is ReplyOutcome.LATE_NEEDS_REPEAT and not answer.fee:
        return "late_needs_repeat_free"
    if outcome is ReplyOutcome.NOT_FOUND:
        return "no_reminder"  # erased, or not the client's: as if no reminder
    return outcome.value


def _text(key: str, reminder: SentReminder, answer: BookingAnswer | None) -> str:
    """The answer in the reminder's language, its times in the reminder's zone."""
    zone: ZoneInfo = zone_named(reminder.timezone)
    formats = formatters_for(reminder.locale, zone)
    start = answer.start if answer and answer.start else reminder.appointment_start
    when = f"{formats['day'](start)}, {formats['hour'](start)}"
    fee = formats["money"](*answer.fee) if answer and answer.fee else ""
    return reply_text(key, reminder.locale, when=when, fee=fee)
