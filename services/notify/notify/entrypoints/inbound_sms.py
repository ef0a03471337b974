"""`POST /inbound/sms` on notify: texts clients send back to the number their messages come
from. STOP (and the like) stops SMS and messaging to that number, START lifts it, HELP
answers the center's help text; `C` or `X` (and their localized words) confirms or cancels
the appointment of the number's latest reminder, through booking (`application/
reminder_replies`); anything else gets a short "replies are not read".

One number for clients and staff: an `ACK <code>`, `ESC <code>` or `RES <code> [n]`, and any
other text (C or X aside) from an active staff member's phone, is handed to crisis
(`application/staff_replies`, `crisis.staff_replies`) and crisis's answer texted back; a STOP or
START is recorded here first whoever sends it.

Authenticated as crisis's webhook of the same path is: a shared secret (notify's own
`INBOUND_SMS_SECRET`) in `X-Webhook-Secret`, not an API key. Nothing of the text is kept or
published (it is free text about a client); the number only as a keyed digest, and only on
STOP. Every use is audited (actor `key:inbound-sms`), without the number.
"""

import random
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from counseling_shared import twilio_replays
from counseling_shared.http import webhook_secret
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import Problem
from counseling_shared.http.provider_message_id import MessageId
from counseling_shared.http.rate_limit import RateBudget
from counseling_shared.http.sms_number_budget import number_budget
from counseling_shared.logs import get_logger
from counseling_shared.service import runtime_of
from counseling_shared.sms_keywords import Keyword, parse
from notify.adapters import opt_outs
from notify.adapters.booking_directory import NatsClientDirectory
from notify.adapters.booking_reminder_replies import NatsReminderReplies
from notify.adapters.crisis_staff_replies import NatsStaffReplies
from notify.application.receipts import Receipt, ReceiptTooEarly, record_receipt
from notify.application.reminder_replies import answer_reply
from notify.application.staff_replies import answer_staff_text, is_staff_word_for_crisis
from notify.domain.codes import ReceiptStatus
from notify.domain.reminder_replies import ReplyWord, parse_reply
from notify.domain.sms_replies import reply_to
from notify.metrics import INBOUND_SMS
from notify.settings import NotifySettings

log = get_logger(__name__)
router = APIRouter(tags=["inbound"])

SMS_PATH = "/inbound/sms"
STATUS_PATH = "/inbound/sms/status"
_BUDGETS = {SMS_PATH: "sms-provider", STATUS_PATH: "sms-receipts"}


class InboundSmsBody(BaseModel):
    """What the SMS provider posts for a text received on the clients' number.

    Not a `RequestBody`: fields the provider adds (message ids, timestamps) are ignored rather
    than refused, so a STOP is never lost to a provider's change."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(
        alias="from", min_length=3, max_length=32, description="The sender's phone number."
    )
    text: str = Field(max_length=1600, description="The message as typed.")
    message_id: MessageId = None


class ReminderReply(BaseModel):
    action: Literal["confirm", "cancel"]
    outcome: Literal[
        "confirmed",
        "already_confirmed",
        "cancelled",
        "late_needs_repeat",
        "over",
        "moved",
        "not_found",
        "no_reminder",
        "shared_number",
        "opted_out",
        "unavailable",
    ] = Field(
        description="`late_needs_repeat`: late, nothing done, the fee announced (a second X"
        " within 5 minutes cancels with it, only with that fee); `over`: started, completed,"
        " missed or cancelled; `moved`: rescheduled since the reminder; `no_reminder`: none to"
        " this number whose appointment is ahead; `shared_number`: this number has upcoming"
        " reminders for more than one client (nothing done, no one named);"
        " `opted_out`: the number texted STOP (nothing done);"
        " `unavailable`: booking did not answer (nothing done: try again)."
    )


class StaffReply(BaseModel):
    command: Literal["ack", "escalate", "resolve", "stop", "start", "help", "other"] = Field(
        description="What crisis was asked; `resolve` (extension): a `RES <code> [n]`."
    )
    outcome: Literal["answered", "unavailable"] = Field(
        description="`answered`: `reply` is crisis's answer; `unavailable`: crisis did not"
        " answer (nothing acknowledged: `reply` says to try again; a STOP is recorded by"
        " notify all the same)."
    )


class InboundSmsReply(BaseModel):
    reply: str = Field(
        description="The text to send back to the sender (the provider texts it to them);"
        " empty: send nothing (the number is past INBOUND_SMS_PER_NUMBER_LIMIT)."
    )
    keyword: Keyword | None = Field(
        description="What notify took the text for: `stop`, `start`, `help`, or null."
    )
    reminder_reply: ReminderReply | None = Field(
        default=None,
        description="Extension: the text was a reply to an appointment reminder (`C` to"
        " confirm, `X` to cancel, or a localized word) and what came of it; null otherwise.",
    )
    staff_reply: StaffReply | None = Field(
        default=None,
        description="Extension: the text was handed to crisis (one number for clients and"
        " staff): an `ACK <code>`, or a text from an active staff member's phone. Null"
        " otherwise.",
    )
    replayed: bool = Field(
        default=False,
        description="Extension: true when a text with this `message_id` was acted on already"
        " (a provider's retry, or a replay): nothing was done and `reply` is empty.",
    )


class ReceiptBody(BaseModel):
    """What the SMS or messaging provider posts when it learns what became of a message.

    Not a `RequestBody`: fields the provider adds are ignored, as on `/inbound/sms`."""

    idempotency_key: str = Field(
        min_length=36,
        max_length=48,
        description="The `idempotency_key` notify sent the provider with the message: the"
        " notification id (`<id>:<n>` for a page sent again after a failed receipt).",
    )
    status: ReceiptStatus = Field(description="`delivered`, `failed` or `undelivered`.")
    error_code: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The provider's or carrier's error code, if any (a code, never text).",
    )


class ReceiptAnswer(BaseModel):
    notification_id: UUID
    recorded: bool = Field(description="False: the same receipt as the last one, no change.")
    resent: bool = Field(
        description="Sent again because the receipt said it failed: a page by the other"
        " provider, a client's text by email (queued; without an email address it stays sent"
        " by its text)."
    )


def provider_budget(settings: NotifySettings) -> RateBudget:
    """The SMS provider's own rate budgets: a request with the right secret spends
    `sms-provider`'s (texts) or `sms-receipts`'s (receipts), never the (shared, floodable)
    address's, and a burst of receipts cannot starve the STOPs."""
    return webhook_secret.provider_budget(settings.inbound_sms_secret.get_secret_value(), _BUDGETS)


def require_secret(
    request: Request,
    x_webhook_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> None:
    """The shared secret, checked as a dependency: FastAPI runs it before it reads the body,
    so a caller without the secret learns nothing about the body's shape (401, not 422)."""
    settings = runtime_of(request).settings
    assert isinstance(settings, NotifySettings)
    webhook_secret.check(settings.inbound_sms_secret.get_secret_value(), x_webhook_secret)


Secret = Annotated[None, Depends(require_secret)]
_SECRET_RESPONSES = {
    "s401": "Missing or wrong `X-Webhook-Secret` (checked before the body).",
    "s503": "No `INBOUND_SMS_SECRET` is configured.",
}


@router.post(
    SMS_PATH,
    responses=problem_responses(
        **{
            **_SECRET_RESPONSES,
            "s503": "No `INBOUND_SMS_SECRET` is configured, or a post with the same"
            " `message_id` is being handled at this moment (`Retry-After`): post it again.",
        }
    ),
    openapi_extra={"security": []},  # the shared secret header is the credential
)
async def inbound_sms(_: Secret, request: Request, body: InboundSmsBody) -> InboundSmsReply:
    """A client's text to the number their messages come from. `STOP` (`STOPALL`,
    `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`, and `ARRET`, `СТОП`, `중지`…) stops SMS and
    messaging to the sender's number; `START` (`UNSTOP`, `YES`…) lifts that; `HELP` (`INFO`…)
    answers the center's help text. Extension: `C` (`CONFIRM`, `CONFIRMER`, `확인`,
    `ПОДТВЕРЖДАЮ`…) confirms and `X` (`ANNULER`, `취소`, `ОТМЕНИТЬ`…) cancels the appointment
    of the most recent reminder sent to the sender's number whose appointment is ahead (none
    when the number has reminders ahead for more than one client); a late cancellation first
    answers with the fee and takes a second `X` within 5 minutes, with that fee. Anything
    else is not read. Extension, one number for clients and staff: an `ACK <code>`,
    `ESC <code>` or `RES <code> [n]` (resolve with outcome n, 1 to 5; alone, the list), and
    any other text but C or X from an active staff member's phone (a STOP is recorded here
    first; also ko `확인` alone, a staff word and a client's confirm, when no reminder ahead
    was sent to that phone), is handed to crisis, whose answer is the `reply`
    (`staff_reply`); crisis not answering, an ACK, ESC or RES is answered that it did not go
    through. Past the number's INBOUND_SMS_PER_NUMBER_LIMIT nothing acts but a STOP, and
    `reply` is empty. Extension: a text with a `message_id` acts once; posted again it is
    answered `replayed`, with an empty `reply` (503 while the first post is still acting)."""
    key = twilio_replays.message_key(body.message_id)
    db = runtime_of(request).db()
    answer = await twilio_replays.once(db, "notify", SMS_PATH, key, lambda: act_on(request, body))
    if answer is None:
        return InboundSmsReply(reply="", keyword=None, replayed=True)
    return answer


async def act_on(request: Request, body: InboundSmsBody) -> InboundSmsReply:
    """What a client's (or staff member's) text does, and the answer: for the shared secret's
    route and Twilio's, each of which remembers its posts first."""
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    parsed = parse(body.text)
    keys = settings.link_keys
    budget = number_budget(
        request,
        "notify",
        settings.inbound_sms_per_number_limit,
        settings.rate_limit_storage_uri,
        keys[0],
    )
    if not await budget.allows(body.from_):
        # One phone flooding: nothing acts and nothing is texted back, but an opt-out is
        # never lost (a STOP must stop texts, however many came before it).
        if parsed.keyword is Keyword.STOP:
            now = runtime.clock.now()
            await opt_outs.opt_out(runtime.db(), keys, body.from_, parsed.keyword.value, now)
        INBOUND_SMS.labels("limited").inc()
        log.info("inbound_sms_limited", keyword=parsed.keyword.value if parsed.keyword else None)
        stop = Keyword.STOP if parsed.keyword is Keyword.STOP else None
        return InboundSmsReply(reply="", keyword=stop)
    word = parse_reply(body.text) if parsed.keyword is None else None
    # ko `확인` alone is a client's confirm and a staff member's ACK word without its code:
    # from a staff phone no reminder ahead went to, crisis answers it (how to ACK).
    staff_word = word is not None and await is_staff_word_for_crisis(
        runtime.db(), keys, body.from_, body.text, runtime.clock.now()
    )
    if word is not None and not staff_word:
        return await _reminder_reply(request, body, word)
    if parsed.keyword is Keyword.STOP:
        now = runtime.clock.now()
        await opt_outs.opt_out(runtime.db(), keys, body.from_, parsed.keyword.value, now)
    elif parsed.keyword is Keyword.START:
        await opt_outs.opt_in(runtime.db(), keys, body.from_)
    crisis = NatsStaffReplies(runtime.nats())
    staff = await answer_staff_text(runtime.db(), keys, body.from_, body.text, crisis)
    if staff is not None and staff.reply is not None:
        INBOUND_SMS.labels(parsed.keyword.value if parsed.keyword else staff.command.value).inc()
        keyword = parsed.keyword.value if parsed.keyword else None
        log.info("inbound_sms", keyword=keyword, staff_reply=staff.outcome)
        return InboundSmsReply(
            reply=staff.reply,
            keyword=parsed.keyword,
            staff_reply=StaffReply.model_validate(
                {"command": staff.command.value, "outcome": staff.outcome}
            ),
        )
    if word is not None:
        # crisis did not take it after all (not its staff, or it did not answer): the client's.
        return await _reminder_reply(request, body, word)
    INBOUND_SMS.labels(parsed.keyword.value if parsed.keyword else "other").inc()
    log.info("inbound_sms", keyword=parsed.keyword.value if parsed.keyword else None)
    return InboundSmsReply(
        reply=reply_to(parsed.keyword, parsed.language, settings.sms_help_text),
        keyword=parsed.keyword,
    )


async def _reminder_reply(
    request: Request, body: InboundSmsBody, word: ReplyWord
) -> InboundSmsReply:
    """A client's C or X (or their language's word) to the reminder sent to their number."""
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    booking = NatsReminderReplies(runtime.nats())
    directory = NatsClientDirectory(runtime.nats(), settings.directory_timeout)
    answered = await answer_reply(
        runtime.db(), settings.link_keys, body.from_, word, booking, runtime.clock, directory
    )
    INBOUND_SMS.labels(word.action.value).inc()
    log.info("inbound_sms", keyword=None, reminder_reply=answered.outcome)
    return InboundSmsReply(
        reply=answered.reply,
        keyword=None,
        reminder_reply=ReminderReply.model_validate(
            {"action": word.action.value, "outcome": answered.outcome}
        ),
    )


@router.post(
    STATUS_PATH,
    responses=problem_responses(
        404,
        **{
            **_SECRET_RESPONSES,
            "s503": "No `INBOUND_SMS_SECRET` is configured, or a worker is sending the message"
            " at this moment (`Retry-After`): send the receipt again.",
        },
    ),
    openapi_extra={"security": []},
)
async def inbound_sms_status(
    _: Secret,
    request: Request,
    body: ReceiptBody,
    provider: Annotated[
        Literal["primary", "fallback"],
        Query(description="Which provider calls: give each its own callback URL."),
    ] = "primary",
) -> ReceiptAnswer:
    """A delivery receipt for an SMS or messaging message notify sent. Recorded on the
    notification (`receipt` in `GET /notifications/{id}`); a repeat changes nothing; a
    `delivered` after a `failed` (a late carrier report) is recorded as it comes. A page
    whose receipt says `failed` or `undelivered` goes again at once by the other provider
    (else after the crisis back-off), within its attempts; a client's text goes once by
    email while it is of use (not a second text; held through quiet hours; recorded only
    without an email address)."""
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    try:
        notification_id = UUID(body.idempotency_key.split(":", 1)[0])
    except ValueError:
        raise _unknown_key() from None
    receipt = Receipt(notification_id, body.status, body.error_code, provider)
    try:
        result = await record_receipt(
            runtime.db(),
            runtime.clock,
            receipt,
            has_fallback=settings.fallback_channels(),
            retry=settings.crisis_retry(),
            jitter=random.random(),
        )
    except ReceiptTooEarly:
        raise Problem(
            503,
            "unavailable",
            "Service unavailable",
            "The message is being sent at this moment; send the receipt again.",
            headers={"Retry-After": "2"},
        ) from None
    if result is None:
        raise _unknown_key()
    return ReceiptAnswer(
        notification_id=notification_id, recorded=result.recorded, resent=result.resent
    )


def _unknown_key() -> Problem:
    detail = "No SMS or messaging notification has that idempotency_key."
    return Problem(404, "not-found", "Notification not found", detail)
