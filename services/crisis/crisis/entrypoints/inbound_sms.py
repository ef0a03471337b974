"""`POST /inbound/sms`: the SMS provider's webhook for replies to pages (`ACK <code>`,
`ESC <code>`, `RES <code> <n>`).

Authenticated by a shared secret (`INBOUND_SMS_SECRET`, header `X-Webhook-Secret`), not an API
key. The answer's `reply` is what the provider texts back to the sender: crisis keeps no phone
numbers, so it answers on the provider's own reply path rather than sending an SMS itself.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from counseling_shared import audit, twilio_replays
from counseling_shared.codes import AlertOutcome
from counseling_shared.http import webhook_secret
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.rate_limit import RateBudget
from counseling_shared.http.sms_number_budget import number_budget
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.staff_replies import StaffCommand, StaffText, read
from counseling_shared.unit_of_work import unit_of_work
from crisis.adapters import sites, staff
from crisis.application.sms_replies import Sender, handle_reply
from crisis.entrypoints.page_i18n import Translate, language_of, translator, when_formatter
from crisis.entrypoints.page_view import OUTCOME_TEXT
from crisis.entrypoints.paging import paging_for
from crisis.entrypoints.schemas import InboundSmsBody, InboundSmsReply
from crisis.settings import CrisisSettings

router = APIRouter(tags=["inbound"])


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


SMS_PATH = "/inbound/sms"


def provider_budget(settings: CrisisSettings) -> RateBudget:
    """The SMS provider's own rate budget: a request to the webhook with the right secret
    spends `sms-provider`'s, never the (shared, floodable) address's."""
    secret = settings.inbound_sms_secret.get_secret_value()
    return webhook_secret.provider_budget(secret, {SMS_PATH: "sms-provider"})


def require_secret(
    request: Request,
    x_webhook_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> None:
    """The shared secret, checked as a dependency: FastAPI runs it before it reads the body,
    so a caller without the secret learns nothing about the body's shape (401, not 422)."""
    secret = _settings(runtime_of(request)).inbound_sms_secret.get_secret_value()
    webhook_secret.check(secret, x_webhook_secret)


@router.post(
    SMS_PATH,
    responses=problem_responses(
        s401="Missing or wrong `X-Webhook-Secret` (checked before the body).",
        s503="No `INBOUND_SMS_SECRET` is configured, or a post with the same `message_id` is"
        " being handled at this moment (`Retry-After`): post it again.",
    ),
    openapi_extra={"security": []},  # the shared secret header is the credential
)
async def inbound_sms(
    _: Annotated[None, Depends(require_secret)], request: Request, body: InboundSmsBody
) -> InboundSmsReply:
    """A staff member's SMS reply. `ACK <code>` (the code in their page) acknowledges that
    alert as them when it comes from their phone; `ESC <code>` escalates it now (the next
    level is paged, unless the alert already left that page's level). Extension:
    `RES <code> <n>` resolves it with outcome n (1 `safety_plan`, 2 `referred_emergency`,
    3 `referred_hospital`, 4 `police`, 5 `no_risk_found`) by the rules of
    `POST /alerts/{id}/resolve`; `RES <code>` alone answers that list. Anything else gets a
    short help text. Past the number's INBOUND_SMS_PER_NUMBER_LIMIT, nothing but a STOP acts
    and `reply` is empty. Extension: a text with a `message_id` acts once; posted again it is
    answered `replayed`, with an empty `reply` (503 while the first post is still acting)."""
    key = twilio_replays.message_key(body.message_id)
    db = runtime_of(request).db()
    answer = await twilio_replays.once(db, "crisis", SMS_PATH, key, lambda: act_on(request, body))
    if answer is None:
        return InboundSmsReply(reply="", replayed=True)
    return answer


async def act_on(request: Request, body: InboundSmsBody) -> InboundSmsReply:
    """What a staff member's text does, and the answer: for the shared secret's route and
    Twilio's, each of which remembers its posts first."""
    runtime = runtime_of(request)
    settings = _settings(runtime)
    sender = Sender.of_phone(settings.link_keys, body.from_)
    asked = read(body.text)
    budget = number_budget(
        request,
        "crisis",
        settings.inbound_sms_per_number_limit,
        settings.rate_limit_storage_uri,
        settings.link_keys[0],
    )
    if not await budget.allows(body.from_):
        # One phone flooding: nothing acts and nothing is texted back, but a STOP is never
        # lost (it must stop SMS pages, however many texts came before it).
        if asked.command is StaffCommand.STOP:
            await answer_text(runtime, sender, asked)
        return InboundSmsReply(reply="")
    _msgid, text = await answer_text(runtime, sender, asked)
    return InboundSmsReply(reply=text)


async def answer_text(runtime: Runtime, sender: Sender, asked: StaffText) -> tuple[str, str]:
    """What a staff member's text does, and the answer to text back (its English msgid, and
    the text in their language): for a text to crisis's own route and for one notify took in
    (`crisis.staff_replies`). The caller's audit context names the provider or notify; a
    matched sender replaces it."""
    settings = _settings(runtime)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        answer = await handle_reply(uow, sender, asked, paging_for(settings))
        lang, zone = "en", None
        if answer.staff_id is not None and answer.site_id is not None:
            audit.note_actor(audit.Actor("staff", str(answer.staff_id)))
            audit.note_site(answer.site_id)
            lang = language_of(await staff.locale_of(uow.conn, answer.staff_id))
            zone = await sites.timezone_of(uow.conn, answer.site_id)
    when, _ = when_formatter(lang, zone), translator(lang)
    values = {k: _shown(v, when, _) for k, v in answer.values.items()}
    return answer.msgid, _(answer.msgid, **values)


def _shown(value: Any, when: Callable[[datetime | None], str], _: Translate) -> Any:
    """A value as the answer shows it: an instant in the site's zone, an outcome in words."""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, AlertOutcome):
        return _(OUTCOME_TEXT[value])
    return value
