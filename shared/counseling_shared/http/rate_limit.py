"""A per-key rate limit (contract v2): past it, a 429 problem+json with `Retry-After`.

The counting is the `limits` library's sliding window counter: the previous window's count,
weighted by how much of it still overlaps, plus the current one's, so a burst at a window's edge
cannot double the rate. (Its moving window is exact but cost each request three times the CPU:
its in-memory expiry hands every key to a worker thread.) Each credential has its own budget,
identified by a digest of the bearer token it presents (the token itself is never kept); a
request without one is counted against its client address. Health, readiness and metrics are
never limited: probes and scrapers must always get through.

`RATE_LIMIT` takes the library's notation, e.g. `6000/minute` or `50/second;1000/minute`
(every part must hold); `off` disables the limit. Counts live in the process by default
(`RATE_LIMIT_STORAGE_URI=memory://`): with several replicas each keeps its own, so a key may
reach the limit once per replica; a shared store (`redis://…`, with its client installed)
makes it one budget.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from counseling_shared.http.problems import html_page_for, problem_response

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OFF = "off"


def parse_rate_limit(spec: str) -> list[RateLimitItem]:
    """The limits of a `RATE_LIMIT` setting (none for `off`); `ValueError` when malformed."""
    if spec.strip().lower() == OFF:
        return []
    return parse_many(spec)


def caller_key(scope: Scope) -> str:
    """Whose budget a request spends: its credential's, else its client address's."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                digest = hashlib.sha256(token.strip().encode()).hexdigest()[:24]
                return f"key:{digest}"
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limits: Sequence[RateLimitItem], storage_uri: str = "memory://"
    ) -> None:
        self.app = app
        self._limits = list(limits)
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        storage = storage_from_string(uri)
        assert isinstance(storage, Storage), "an async storage"
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS or not self._limits:
            await self.app(scope, receive, send)
            return
        key = caller_key(scope)
        for item in self._limits:
            if not await self._limiter.hit(item, key):
                await self._refuse(scope, receive, send, item, key)
                return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, item: RateLimitItem, key: str
    ) -> None:
        stats = await self._limiter.get_window_stats(item, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        page = html_page_for(Request(scope), 429)  # a person's page answers HTML
        response = page or problem_response(
            429,
            "rate-limited",
            "Too many requests",
            f"This API key made more than {item} requests. Retry after {retry_after} s.",
            scope["path"],
        )
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)
