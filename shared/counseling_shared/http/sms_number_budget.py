"""A budget of texts received per phone number (`INBOUND_SMS_PER_NUMBER_LIMIT`): one phone
cannot flood notify's or crisis's inbound routes with texts that each act and are answered
(an answer is a text the center pays for). Past it a text gets no action and no reply.

The count is the rate limiter's (`limits`' sliding window counter, in the process or in
RATE_LIMIT_STORAGE_URI's store), keyed by the number's keyed digest: the number itself is
never kept, logged or used as a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request

from counseling_shared.http.rate_limit import parse_rate_limit
from counseling_shared.metrics import INBOUND_SMS_NUMBER_LIMITED
from counseling_shared.phones import keyed_digest

_PURPOSE = "inbound-sms-budget"


@dataclass(frozen=True)
class NumberBudget:
    limits: list[RateLimitItem]
    limiter: SlidingWindowCounterRateLimiter
    key: str
    service: str

    async def allows(self, phone: str) -> bool:
        """Spends one of the number's texts; False past its budget (counted)."""
        digest = keyed_digest(_PURPOSE, self.key, phone)[:32]
        for item in self.limits:
            if not await self.limiter.hit(item, f"sms-number:{digest}"):
                INBOUND_SMS_NUMBER_LIMITED.labels(self.service).inc()
                return False
        return True


def number_budget(
    request: Request, service: str, spec: str, storage_uri: str, key: str
) -> NumberBudget:
    """The app's budget, made on first use (one per app: tests run several in one process)."""
    budget: NumberBudget | None = getattr(request.app.state, "sms_number_budget", None)
    if budget is None:
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        storage = storage_from_string(uri)
        assert isinstance(storage, Storage), "an async storage"
        limiter = SlidingWindowCounterRateLimiter(storage)
        budget = NumberBudget(parse_rate_limit(spec), limiter, key, service)
        request.app.state.sms_number_budget = budget
    return budget
