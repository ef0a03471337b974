"""`POST /inbound/sms` on notify: texts clients send back to the number their messages come
from. STOP (and the like) stops SMS and messaging to that number, START lifts it, HELP
answers the center's help text; anything else gets a short "replies are not read".

Authenticated as crisis's webhook of the same path is: a shared secret (notify's own
`INBOUND_SMS_SECRET`) in `X-Webhook-Secret`, not an API key. Nothing of the text is kept or
published (it is free text about a client); the number only as a keyed digest, and only on
STOP. Every use is audited (actor `key:inbound-sms`), without the number.
"""

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Scope

from counseling_shared import audit
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import Problem
from counseling_shared.http.rate_limit import RateBudget
from counseling_shared.logs import get_logger
from counseling_shared.service import runtime_of
from counseling_shared.sms_keywords import Keyword, parse
from notify.adapters import opt_outs
from notify.domain.sms_replies import reply_to
from notify.metrics import INBOUND_SMS
from notify.settings import NotifySettings

log = get_logger(__name__)
router = APIRouter(tags=["inbound"])

SMS_PATH = "/inbound/sms"


class InboundSmsBody(BaseModel):
    """What the SMS provider posts for a text received on the clients' number.

    Not a `RequestBody`: fields the provider adds (message ids, timestamps) are ignored rather
    than refused, so a STOP is never lost to a provider's change."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(
        alias="from", min_length=3, max_length=32, description="The sender's phone number."
    )
    text: str = Field(max_length=1600, description="The message as typed.")


class InboundSmsReply(BaseModel):
    reply: str = Field(
        description="The text to send back to the sender (the provider texts it to them)."
    )
    keyword: Keyword | None = Field(
        description="What notify took the text for: `stop`, `start`, `help`, or null."
    )


def provider_budget(settings: NotifySettings) -> RateBudget:
    """The SMS provider's own rate budget: a request with the right secret spends
    `sms-provider`'s, never the (shared, floodable) address's."""
    secret = settings.inbound_sms_secret.get_secret_value().encode()

    def budget(scope: Scope) -> str | None:
        if not secret or scope["path"] != SMS_PATH:
            return None
        for name, value in scope["headers"]:
            if name == b"x-webhook-secret" and hmac.compare_digest(value, secret):
                return "sms-provider"
        return None

    return budget


@router.post(
    SMS_PATH,
    responses=problem_responses(
        s401="Missing or wrong `X-Webhook-Secret`.",
        s503="No `INBOUND_SMS_SECRET` is configured.",
    ),
    openapi_extra={"security": []},  # the shared secret header is the credential
)
async def inbound_sms(
    body: InboundSmsBody,
    request: Request,
    x_webhook_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> InboundSmsReply:
    """A client's text to the number their messages come from. `STOP` (`STOPALL`,
    `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`, and `ARRET`, `СТОП`, `중지`…) stops SMS and
    messaging to the sender's number; `START` (`UNSTOP`, `YES`…) lifts that; `HELP` (`INFO`…)
    answers the center's help text. Anything else is not read."""
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, NotifySettings)
    secret = settings.inbound_sms_secret.get_secret_value()
    if not secret:
        raise Problem(503, "unavailable", "Service unavailable", "SMS replies are not configured.")
    # Compared as bytes: compare_digest refuses str holding non-ASCII (a TypeError, a 500).
    given = (x_webhook_secret or "").encode()
    if not given or not hmac.compare_digest(given, secret.encode()):
        raise Problem(401, "unauthorized", "Unauthorized", "Missing or wrong X-Webhook-Secret.")
    audit.note_actor(audit.Actor("key", "inbound-sms"))
    parsed = parse(body.text)
    keys = settings.link_keys
    if parsed.keyword is Keyword.STOP:
        now = runtime.clock.now()
        await opt_outs.opt_out(runtime.db(), keys, body.from_, parsed.keyword.value, now)
    elif parsed.keyword is Keyword.START:
        await opt_outs.opt_in(runtime.db(), keys, body.from_)
    INBOUND_SMS.labels(parsed.keyword.value if parsed.keyword else "other").inc()
    log.info("inbound_sms", keyword=parsed.keyword.value if parsed.keyword else None)
    return InboundSmsReply(
        reply=reply_to(parsed.keyword, parsed.language, settings.sms_help_text),
        keyword=parsed.keyword,
    )
