"""A provider's webhook (an SMS provider posting texts or delivery receipts): no API key, a
shared secret in `X-Webhook-Secret` instead, one secret per service (`INBOUND_SMS_SECRET`).

The secret is compared in constant time, as bytes (`compare_digest` refuses a `str` holding
non-ASCII: a 500), and checked before the body is read, so a caller without it learns nothing
about the body's shape (401, not 422). A request carrying it spends the provider's own rate
budget, never the shared, floodable address's."""

import hmac
from collections.abc import Mapping

from starlette.types import Scope

from counseling_shared import audit
from counseling_shared.http.problems import Problem
from counseling_shared.http.rate_limit import RateBudget

HEADER = b"x-webhook-secret"
ACTOR = audit.Actor("key", "inbound-sms")
"""Who the audit trail names for a use of the provider's webhook."""


def provider_budget(secret: str, budgets: Mapping[str, str]) -> RateBudget:
    """`budgets`: path → the budget a request to it with the right secret spends."""
    key = secret.encode()

    def budget(scope: Scope) -> str | None:
        name = budgets.get(scope["path"])
        if not key or name is None:
            return None
        for header, value in scope["headers"]:
            if header == HEADER and hmac.compare_digest(value, key):
                return name
        return None

    return budget


def check(secret: str, given: str | None) -> None:
    """503 when no secret is configured, 401 when `given` is not it; else the request's actor
    is the provider."""
    if not secret:
        raise Problem(503, "unavailable", "Service unavailable", "SMS replies are not configured.")
    sent = (given or "").encode()
    if not sent or not hmac.compare_digest(sent, secret.encode()):
        raise Problem(401, "unauthorized", "Unauthorized", "Missing or wrong X-Webhook-Secret.")
    audit.note_actor(ACTOR)
