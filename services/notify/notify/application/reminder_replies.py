"""A client's C/X reply to a reminder text: found by the number's digest, applied by booking.

The reply acts on that number's most recent reminder whose appointment has not started
(`sms_reminders`), so a spoofed sender can at most act on the reminders sent to the number it
claims, and only while that number is still the client's (booking's directory is asked: a
number the client has since replaced acts on nothing). A number that texted STOP gets the
STOP answer and nothing is done. A late X is answered with the fee and noted on the
reminder's row (`cancel_asked_at`): a second X within `LATE_REPEAT_WINDOW` cancels with it,
but not one within `LATE_REPEAT_EARLIEST` (sent before the fee could be read); later, the fee
is announced again. booking out of reach: nothing is recorded here, and the answer says to
try again or use the link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from counseling_shared.phones import normalise_phone
from counseling_shared.reminder_replies import ReplyAction, ReplyOutcome
from counseling_shared.sms_keywords import Keyword
from notify.adapters import opt_outs, sms_reminders
from notify.adapters.sms_reminders import SentReminder
from notify.adapters.templates import formatters_for
from notify.application.ports import ClientDirectory, ClientNotFound, DirectoryUnavailable
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


@dataclass(frozen=True)
class BookingAnswer:
    outcome: ReplyOutcome
    start: str | None  # the appointment's start now (ISO 8601)
    fee: tuple[str, str] | None  # amount, ISO 4217 currency


class ReplyUnavailable(Exception):
    """booking did not answer (or could not act): nothing is known to have changed."""


class ReminderReplies(Protocol):
    async def apply(self, asked: ReplyAsked) -> BookingAnswer: ...


@dataclass(frozen=True)
class Answered:
    reply: str
    outcome: str  # a ReplyOutcome, or `no_reminder`, `opted_out`, `unavailable`


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
    reminder = await sms_reminders.latest_for(pool, keys, phone, now)
    if reminder is None:
        return Answered(reply_text("no_reminder", language), "no_reminder")
    try:
        contact = await directory.contact(reminder.client_id)
    except DirectoryUnavailable:
        return Answered(_text("unavailable", reminder, None), "unavailable")
    except ClientNotFound:
        contact = None
    if contact is None or not _same_number(contact.phone, phone):
        # The client's number changed since (a number given up, a shared phone left behind):
        # the old one acts on nothing.
        return Answered(reply_text("no_reminder", language), "no_reminder")
    asked_at = reminder.cancel_asked_at
    shown_late = word.action is ReplyAction.CANCEL and repeats_after_announcement(asked_at, now)
    asked = ReplyAsked(
        reminder.notification_id,
        reminder.appointment_id,
        reminder.client_id,
        reminder.appointment_start,
        word.action,
        shown_late,
    )
    try:
        answer = await booking.apply(asked)
    except ReplyUnavailable as exc:
        log.warning("reminder_reply_unanswered", reminder_id=str(asked.reminder_id), error=str(exc))
        return Answered(_text("unavailable", reminder, None), "unavailable")
    if answer.outcome is ReplyOutcome.LATE_NEEDS_REPEAT:
        if not too_soon_after_announcement(asked_at, now):  # else the window keeps its start
            await sms_reminders.note_cancel_asked(pool, reminder.notification_id, now)
    elif asked_at is not None:
        await sms_reminders.note_cancel_asked(pool, reminder.notification_id, None)
    return Answered(_text(_key(answer), reminder, answer), answer.outcome.value)


def _same_number(current: str | None, sender: str) -> bool:
    return current is not None and normalise_phone(current) == normalise_phone(sender)


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
