"""Twilio's webhooks on notify (`SMS_PROVIDER=twilio`, `SMS_FALLBACK_PROVIDER=twilio`, or
`MESSAGING_PROVIDER=twilio`: WhatsApp):
an adapter that checks Twilio's signature and turns its form posts into the calls
`POST /inbound/sms` and `POST /inbound/sms/status` make, so STOP/START/HELP and receipts are
handled by the same code whichever provider the center uses.

- `POST /inbound/sms/twilio`: a text to the center's Twilio number (`From`, `Body`), or a
  WhatsApp message to its WhatsApp sender (`From=whatsapp:+…`, the prefix dropped), answered
  in TwiML (`<Response><Message>…</Message></Response>`), which Twilio texts back. When
  Twilio's own opt-out handling answered the keyword (it adds `OptOutType`), the answer is an
  empty `<Response/>`, so the sender does not get two confirmations.
- `POST /inbound/sms/twilio/status`: a message's status callback; the URL notify gave Twilio
  with the message carries our key (`?key=<idempotency key>&provider=primary|fallback`).
  `delivered` (and `read`) and `failed` / `undelivered` are recorded as receipts, with
  Twilio's `ErrorCode` as `twilio_<code>`; the statuses on the way (`queued`, `sent`, …) are
  answered 204 and not recorded.

Each post that acts is acted on once (counseling_shared.twilio_replays): a text by its
`MessageSid`, a status callback by its `MessageSid` and status. A replay is answered as if
handled (an empty `<Response/>`, or 204) and changes nothing.
"""

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from counseling_shared import twilio_replays
from counseling_shared.http import twilio_webhook
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import Problem
from counseling_shared.http.rate_limit import FormBudget
from counseling_shared.service import runtime_of
from notify.adapters.twilio_whatsapp import without_prefix
from notify.domain.codes import ReceiptStatus
from notify.domain.twilio_errors import error_code
from notify.entrypoints import inbound_sms
from notify.entrypoints.inbound_sms import InboundSmsBody, ReceiptBody
from notify.settings import NotifySettings

router = APIRouter(tags=["inbound"])

SMS_PATH = "/inbound/sms/twilio"
STATUS_PATH = "/inbound/sms/twilio/status"

_RECEIPTS = {
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.DELIVERED,  # WhatsApp: read implies delivered
    "failed": ReceiptStatus.FAILED,
    "undelivered": ReceiptStatus.UNDELIVERED,
}
_TOO_EARLY_WAITS = (0.25, 0.5, 1.0)
"""Twilio does not send a status callback again after a 503, so a receipt that comes while a
worker still holds the message (ReceiptTooEarly) is tried again here, for up to 1.75 s."""


def _configured(settings: NotifySettings) -> tuple[str, str]:
    if not settings.uses_twilio:
        return "", ""  # answered 503: Twilio is not this notify's provider
    return settings.twilio_token(), settings.twilio_webhook_base_url or ""


def _twilio(request: Request) -> tuple[str, str]:
    settings = runtime_of(request).settings
    assert isinstance(settings, NotifySettings)
    return _configured(settings)


def provider_budget(settings: NotifySettings) -> FormBudget:
    """Twilio's own rate budgets, as the shared secret's: its signed texts spend
    `twilio-texts`, its receipts `twilio-receipts` (a burst of receipts cannot starve STOPs)."""
    budgets = {SMS_PATH: "twilio-texts", STATUS_PATH: "twilio-receipts"}
    return twilio_webhook.signed_budget(lambda: _configured(settings), budgets)


def require_signature(request: Request) -> None:
    """The header, checked before the body is read (401 without it)."""
    twilio_webhook.require_signature_header(request, *_twilio(request))


Signed = Annotated[None, Depends(require_signature)]
_FORM = twilio_webhook.SIGNED_FORM_OPENAPI
_DESCRIBED = {
    "s401": "Missing or wrong `X-Twilio-Signature` (a missing one before the body is read).",
    "s503": "Neither SMS_PROVIDER, SMS_FALLBACK_PROVIDER nor MESSAGING_PROVIDER is `twilio`.",
}


@router.post(
    SMS_PATH,
    response_class=Response,
    responses={
        200: {"content": {twilio_webhook.TWIML: {}}},
        **problem_responses(s422="The form has no usable `From` or `Body`.", **_DESCRIBED),
    },
    openapi_extra=_FORM,
)
async def twilio_inbound_sms(_: Signed, request: Request) -> Response:
    """Twilio's webhook for a text to the center's number (set as the number's "A message
    comes in" URL): handled as `POST /inbound/sms`, answered in TwiML."""
    params = await twilio_webhook.verified_form(request, *_twilio(request))
    try:
        # A WhatsApp message comes `From=whatsapp:+…`: the number is what STOP, C/X and
        # staff replies match (WhatsApp's TwiML answer goes back by WhatsApp all the same).
        sender = without_prefix(params.get("From", ""))
        body = InboundSmsBody(from_=sender, text=params.get("Body", ""))
    except ValidationError as exc:
        raise twilio_webhook.unusable_text(exc) from None
    key = twilio_replays.post_key("text", params.get("MessageSid", ""))
    answer = await twilio_replays.once(
        runtime_of(request).db(),
        "notify",
        SMS_PATH,
        key,
        lambda: inbound_sms.act_on(request, body),
    )
    if answer is None or params.get("OptOutType"):
        # A replay (acted on already), or Twilio answered the keyword itself.
        return twilio_webhook.twiml_response()
    return twilio_webhook.twiml_response(answer.reply)


@router.post(
    STATUS_PATH,
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, **_DESCRIBED),
    openapi_extra=_FORM,
)
async def twilio_message_status(_: Signed, request: Request) -> Response:
    """Twilio's status callback for a message notify sent (the URL notify gives Twilio with
    each message): recorded as `POST /inbound/sms/status` records a receipt."""
    params = await twilio_webhook.verified_form(request, *_twilio(request))
    status = _RECEIPTS.get(params.get("MessageStatus", "").lower())
    if status is None:
        return Response(status_code=204)  # on its way: nothing to record yet
    provider: Literal["primary", "fallback"] = (
        "fallback" if request.query_params.get("provider") == "fallback" else "primary"
    )
    try:
        receipt = ReceiptBody(
            idempotency_key=request.query_params.get("key", ""),
            status=status,
            error_code=error_code(params.get("ErrorCode")),
        )
    except ValidationError:
        raise Problem(404, "not-found", "Notification not found", "No such key.") from None
    # One post per message and status: the same status again is a replay (a `failed`
    # replayed after `delivered` would send the message again).
    sid = params.get("MessageSid", "")
    key = twilio_replays.post_key("status", sid, status.value, receipt.idempotency_key)
    db = runtime_of(request).db()
    await twilio_replays.once(
        db, "notify", STATUS_PATH, key, lambda: _record(request, receipt, provider)
    )
    return Response(status_code=204)


async def _record(
    request: Request, receipt: ReceiptBody, provider: Literal["primary", "fallback"]
) -> None:
    for wait in (*_TOO_EARLY_WAITS, None):
        try:
            await inbound_sms.inbound_sms_status(None, request, receipt, provider)
            return
        except Problem as problem:
            if problem.status != 503 or wait is None:
                raise
        await asyncio.sleep(wait)
