"""A page's phone call, as Twilio asks crisis what to do (`SMS_PROVIDER=twilio`; notify
places the calls when its `PAGE_CALLS` is on).

- `POST /inbound/voice/twilio?code=` — the call was answered: TwiML saying "a crisis alert",
  the code, "press 1 to acknowledge, 2 to hear this again, 3 to escalate now", in the called
  staff member's language, in a `<Gather numDigits="1">`. An answering machine
  (`AnsweredBy`) hears nothing.
- `POST /inbound/voice/twilio/gather?code=` — the key pressed (`Digits`): 1 acknowledges as
  the called staff member, exactly as their `ACK <code>` text; 3 escalates now, exactly as
  their `ESC <code>` text; any other key repeats; no key or a machine acknowledges
  nothing.
- `POST /inbound/voice/twilio/status?code=` — the call ended (`CallStatus`): a `call_ended`
  step on the page's timeline, counted in `crisis_page_calls_total`.

Every post must carry Twilio's `X-Twilio-Signature` over the URL Twilio called, the code in
its query string included (401 without it, before the body; 401 wrong). A key press 1 is
acted on once per call (`CallSid`), a call's final status once per status
(counseling_shared.twilio_replays): a replay is answered by hanging up (or 204).
"""

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from counseling_shared import audit, twilio_replays
from counseling_shared.http import twilio_webhook
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.rate_limit import FormBudget
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import unit_of_work
from crisis import metrics
from crisis.adapters import staff
from crisis.application import alerts, voice_calls
from crisis.entrypoints.page_i18n import language_of
from crisis.entrypoints.paging import paging_for
from crisis.entrypoints.twilio_inbound import configured, require_signature, twilio_config
from crisis.entrypoints.voice_twiml import final, hang_up, prompt
from crisis.settings import CrisisSettings

router = APIRouter(tags=["inbound"])

CALL_PATH = "/inbound/voice/twilio"
GATHER_PATH = CALL_PATH + "/gather"
STATUS_PATH = CALL_PATH + "/status"
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


def provider_budget(settings: CrisisSettings) -> FormBudget:
    """A page call's posts Twilio signed spend their own rate budget (`twilio-calls`): a flood
    from the ingress's address, or a busy day of texts, cannot starve a key press."""
    paths = {path: "twilio-calls" for path in (CALL_PATH, GATHER_PATH, STATUS_PATH)}
    return twilio_webhook.signed_budget(lambda: configured(settings), paths)


def _twiml(text: str) -> Response:
    return Response(text, media_type=twilio_webhook.TWIML)


def _responses() -> dict[int | str, dict[str, object]]:
    return {
        200: {"content": {twilio_webhook.TWIML: {}}},
        **problem_responses(
            s401="Missing or wrong `X-Twilio-Signature` (a missing one before the body).",
            s503="SMS_PROVIDER is not `twilio`.",
        ),
    }


_FORM = twilio_webhook.SIGNED_FORM_OPENAPI


async def _form(request: Request) -> tuple[dict[str, str], str | None]:
    """The verified form and the reply code of the URL (None when it is no code)."""
    params = await twilio_webhook.verified_form(request, *twilio_config(request))
    return params, voice_calls.valid_code(request.query_params.get("code", ""))


def _gather_url(settings: CrisisSettings, code: str) -> str:
    base = (settings.twilio_webhook_base_url or "").rstrip("/")
    return f"{base}{GATHER_PATH}?code={code}"


@router.post(CALL_PATH, response_class=Response, responses=_responses(), openapi_extra=_FORM)
async def twilio_call_answered(
    _: Annotated[None, Depends(require_signature)], request: Request
) -> Response:
    """The page's call was answered: the prompt, in the called staff member's language."""
    params, code = await _form(request)
    if voice_calls.answered_by(params.get("AnsweredBy", "")) == "machine":
        metrics.CALL_KEYS.labels("machine").inc()
        return _twiml(hang_up())
    runtime = runtime_of(request)
    settings = _settings(runtime)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        page = None
        if code is not None:
            page = await voice_calls.called_page(
                uow, settings.link_keys, params.get("To", ""), code
            )
        lang = language_of(await staff.locale_of(uow.conn, page["staff_id"])) if page else "en"
    if page is None or code is None:
        metrics.CALL_KEYS.labels("unknown").inc()
        return _twiml(final(lang, "unknown"))
    if page["status"] != "open":
        metrics.CALL_KEYS.labels("already").inc()
        return _twiml(final(lang, "already"))
    return _twiml(prompt(lang, code, _gather_url(settings, code)))


@router.post(GATHER_PATH, response_class=Response, responses=_responses(), openapi_extra=_FORM)
async def twilio_call_key(
    _: Annotated[None, Depends(require_signature)], request: Request
) -> Response:
    """The key pressed during a page's call: 1 acknowledges as the called staff member (as
    their `ACK <code>` text would), 3 escalates now (as `ESC <code>`), another key repeats
    the prompt, none acknowledges nothing. Audited with the call as the actor, acting for the
    staff member."""
    params, code = await _form(request)
    runtime = runtime_of(request)
    digits = params.get("Digits", "").strip()
    if digits not in ("1", "3"):
        return await _key_pressed(request, params, code)
    # Only the keys that act (1 acknowledges, 3 escalates) are remembered: another one
    # changes nothing, and a person may press 2 twice in one call.
    key = twilio_replays.post_key("key", params.get("CallSid", ""), digits)
    answer = await twilio_replays.once(
        runtime.db(), "crisis", GATHER_PATH, key, lambda: _key_pressed(request, params, code)
    )
    return _twiml(hang_up()) if answer is None else answer


async def _key_pressed(request: Request, params: dict[str, str], code: str | None) -> Response:
    runtime = runtime_of(request)
    settings = _settings(runtime)
    called, digits = params.get("To", ""), params.get("Digits", "").strip()
    machine = voice_calls.answered_by(params.get("AnsweredBy", "")) == "machine"
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        page = None
        if code is not None:
            page = await voice_calls.called_page(uow, settings.link_keys, called, code)
        lang = language_of(await staff.locale_of(uow.conn, page["staff_id"])) if page else "en"
        if page is None or code is None:
            result = "unknown"
        elif machine or not digits:
            result = "machine" if machine else "none"
        elif digits not in ("1", "3"):
            result = "repeat"
        else:
            call_sid = params.get("CallSid", "")
            audit.note_actor(audit.Actor("call", call_sid if _CALL_SID.match(call_sid) else "-"))
            audit.act_for(page["staff_id"])
            audit.note_site(page["site_id"])
            by_key = (
                voice_calls.acknowledge_by_key if digits == "1" else voice_calls.escalate_by_key
            )
            result = await by_key(uow, settings.link_keys, called, code, paging_for(settings))
    metrics.CALL_KEYS.labels(result).inc()
    match result:
        case "repeat":
            assert code is not None
            return _twiml(prompt(lang, code, _gather_url(settings, code)))
        case "none" | "machine":
            return _twiml(final(lang, "not_acknowledged"))
        case _:
            return _twiml(final(lang, result))


@router.post(
    STATUS_PATH,
    status_code=204,
    response_class=Response,
    responses=problem_responses(
        s401="Missing or wrong `X-Twilio-Signature` (a missing one before the body).",
        s503="SMS_PROVIDER is not `twilio`.",
    ),
    openapi_extra=_FORM,
)
async def twilio_call_status(
    _: Annotated[None, Depends(require_signature)], request: Request
) -> Response:
    """Twilio's status callback of a page's call: its final status on the page's timeline
    (`call_ended`, coded values only); the statuses on the way are not recorded."""
    params, code = await _form(request)
    status = params.get("CallStatus", "").replace("-", "_")
    if code is None or status not in voice_calls.TERMINAL_STATUSES:
        return Response(status_code=204)
    by = voice_calls.answered_by(params.get("AnsweredBy", ""))
    runtime = runtime_of(request)
    settings = _settings(runtime)

    async def record() -> None:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            page = await voice_calls.called_page(
                uow, settings.link_keys, params.get("To", ""), code
            )
            recorded = page is not None and await alerts.record_call_ended(
                uow, page["page_id"], status, by
            )
        if recorded:
            metrics.PAGE_CALLS.labels(voice_calls.call_outcome(status, by)).inc()

    key = twilio_replays.post_key("call", params.get("CallSid", ""), status)
    await twilio_replays.once(runtime.db(), "crisis", STATUS_PATH, key, record)
    return Response(status_code=204)
