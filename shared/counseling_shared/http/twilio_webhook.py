"""Twilio's webhooks (texts received, delivery status callbacks): form posts signed with
`X-Twilio-Signature` instead of our `X-Webhook-Secret`.

The signature covers the URL Twilio called, which behind an ingress is not the one the service
sees (another host, port or scheme): the URL is rebuilt from the public base URL the operator
configures (`TWILIO_WEBHOOK_BASE_URL`) plus the path and query string of the request. A request
without the header is refused (401) before its body is read; one with it is read (at most the
64 KiB every request may have) and refused (401) unless the signature is Twilio's.
"""

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.types import Scope

from counseling_shared import audit, twilio_signature
from counseling_shared.http.problems import Problem, Unprocessable
from counseling_shared.http.rate_limit import FormBudget
from counseling_shared.http.webhook_secret import ACTOR

TWIML = "application/xml"
_HEADER = twilio_signature.HEADER.lower().encode()


def public_url(base_url: str, scope: Scope) -> str:
    """The URL Twilio called: the configured base, then the path and query as received."""
    query = scope.get("query_string", b"").decode("latin-1")
    url = base_url.rstrip("/") + scope["path"]
    return f"{url}?{query}" if query else url


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """Every (name, value) of the form, as posted: all are signed."""
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def signed_budget(
    configured: Callable[[], tuple[str, str]], budgets: Mapping[str, str]
) -> FormBudget:
    """The rate limiter's check (`budgets`: path → the budget a request to it spends when
    Twilio signed it), so a flood from the shared ingress address, wrong signatures on the
    same route included, cannot starve Twilio's STOPs, ACKs and receipts. `configured`: the
    auth token and public base URL, empty when Twilio is not the provider."""

    def budget(scope: Scope, form: bytes) -> str | None:
        name = budgets.get(scope["path"])
        given = next((v for k, v in scope["headers"] if k == _HEADER), b"")
        if name is None or not given:
            return None  # (before `configured`, which may read the token's file)
        token, base_url = configured()
        if not token or not base_url:
            return None
        url = public_url(base_url, scope)
        valid = twilio_signature.valid(token, url, form_pairs(form), given.decode("latin-1"))
        return name if valid else None

    return budget


def require_signature_header(request: Request, token: str, base_url: str) -> str:
    """503 when Twilio is not configured, 401 without the header: before the body is read."""
    if not token or not base_url:
        raise Problem(503, "unavailable", "Service unavailable", "Twilio is not configured.")
    given = request.headers.get(twilio_signature.HEADER, "")
    if not given:
        raise Problem(401, "unauthorized", "Unauthorized", "Missing X-Twilio-Signature.")
    return given


async def verified_form(request: Request, token: str, base_url: str) -> dict[str, str]:
    """The request's POST parameters, once its signature is Twilio's; the request's actor is
    then the provider (as with the shared secret)."""
    given = require_signature_header(request, token, base_url)
    pairs = form_pairs(await request.body())
    if not twilio_signature.valid(token, public_url(base_url, request.scope), pairs, given):
        raise Problem(401, "unauthorized", "Unauthorized", "Wrong X-Twilio-Signature.")
    audit.note_actor(ACTOR)
    return dict(pairs)  # a name Twilio sent twice (both signed): its last value


SIGNED_FORM_OPENAPI: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    },
    "security": [],  # Twilio's signature is the credential
}
"""The OpenAPI description of a route Twilio posts its signed form to (no API key)."""


def twiml_response(*messages: str) -> Response:
    """The answer Twilio expects to a text: TwiML, a `<Message>` per text to send back."""
    return Response(twilio_signature.twiml(messages), media_type=TWIML)


_FORM_FIELDS = {"from": "From", "from_": "From", "text": "Body"}


def unusable_text(exc: ValidationError) -> Unprocessable:
    """A 422 naming Twilio's fields (`From`, `Body`) for a text our inbound body refuses."""
    errors = [
        {"field": _FORM_FIELDS.get(str(e["loc"][-1]), str(e["loc"][-1])), "message": e["msg"]}
        for e in exc.errors()
    ]
    return Unprocessable("The text has no usable From or Body.", errors)
