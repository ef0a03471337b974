"""`POST /inbound/sms/twilio` (`SMS_PROVIDER=twilio`): staff replies to pages as Twilio posts
them, a form signed with `X-Twilio-Signature`. An adapter: the signature checked, `From` and
`Body` go to the same handling as `POST /inbound/sms` (`ACK <code>`), and its reply goes back
as TwiML (`<Response><Message>…</Message></Response>`), which Twilio texts to the sender.
Each text is acted on once, by its `MessageSid` (counseling_shared.twilio_replays): a replay
is answered an empty `<Response/>` and changes nothing.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from counseling_shared import twilio_replays
from counseling_shared.http import twilio_webhook
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.rate_limit import FormBudget
from counseling_shared.service import runtime_of
from crisis.entrypoints import inbound_sms
from crisis.entrypoints.schemas import InboundSmsBody
from crisis.settings import CrisisSettings

router = APIRouter(tags=["inbound"])

SMS_PATH = "/inbound/sms/twilio"


def configured(settings: CrisisSettings) -> tuple[str, str]:
    """The auth token and public base URL; empty when Twilio is not the provider (503)."""
    if settings.sms_provider != "twilio":
        return "", ""  # answered 503
    return settings.twilio_token(), settings.twilio_webhook_base_url or ""


def twilio_config(request: Request) -> tuple[str, str]:
    settings = runtime_of(request).settings
    assert isinstance(settings, CrisisSettings)
    return configured(settings)


def provider_budget(settings: CrisisSettings) -> FormBudget:
    """Twilio's signed staff replies spend their own rate budget (`twilio-texts`), as the
    shared secret's do: a flood from the ingress's address cannot starve an `ACK`."""
    return twilio_webhook.signed_budget(lambda: configured(settings), {SMS_PATH: "twilio-texts"})


def require_signature(request: Request) -> None:
    """The header, checked before the body is read (401 without it)."""
    twilio_webhook.require_signature_header(request, *twilio_config(request))


@router.post(
    SMS_PATH,
    response_class=Response,
    responses={
        200: {"content": {twilio_webhook.TWIML: {}}},
        **problem_responses(
            s401="Missing or wrong `X-Twilio-Signature` (a missing one before the body).",
            s422="The form has no usable `From` or `Body`.",
            s503="SMS_PROVIDER is not `twilio`.",
        ),
    },
    openapi_extra=twilio_webhook.SIGNED_FORM_OPENAPI,
)
async def twilio_inbound_sms(
    _: Annotated[None, Depends(require_signature)], request: Request
) -> Response:
    """Twilio's webhook for a staff member's reply to a page (the number's "A message comes
    in" URL): handled as `POST /inbound/sms`, answered in TwiML."""
    params = await twilio_webhook.verified_form(request, *twilio_config(request))
    try:
        body = InboundSmsBody(from_=params.get("From", ""), text=params.get("Body", ""))
    except ValidationError as exc:
        raise twilio_webhook.unusable_text(exc) from None
    key = twilio_replays.post_key("text", params.get("MessageSid", ""))
    answer = await twilio_replays.once(
        runtime_of(request).db(),
        "crisis",
        SMS_PATH,
        key,
        lambda: inbound_sms.act_on(request, body),
    )
    if answer is None:
        return twilio_webhook.twiml_response()  # a replay: acted on already
    return twilio_webhook.twiml_response(answer.reply)
