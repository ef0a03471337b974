"""A per-caller rate limit (contract v2): past it, a 429 problem+json with `Retry-After`.

The counting is the `limits` library's sliding window counter: the previous window's count,
weighted by how much of it still overlaps, plus the current one's, so a burst at a window's edge
cannot double the rate. (Its moving window is exact but cost each request three times the CPU:
its in-memory expiry hands every key to a worker thread.) Health, readiness and metrics are
never limited: probes and scrapers must always get through.

Whose budget a request spends (`RateKeys.key_of`), so that nobody can spend another's:

- a configured API key's, once the key is found (the budget is named by the key's id; a made-up
  or missing bearer never gets a budget of its own, else each random token were a fresh one);
- a signed link's (`link:<link_id>`) when the request carries a genuine token (query or form
  field `token`) for one of the service's link purposes, expired or not: a page acknowledgement,
  a PIN try, an answer form, a waitlist offer. Only the service mints these, so nobody can make
  new budgets, and a flood from anywhere else cannot starve a page ack;
- a budget the service names for a credential of its own (`RateKeys.budgets`): crisis's SMS
  webhook carrying the right shared secret (`sms-provider`), so the provider's callbacks are
  not starved by anyone else, a flood of wrong secrets on the same route included; or for a
  small form signed as a whole (`RateKeys.form_budgets`): Twilio's webhooks, whose signature
  covers the form, so it is checked on the form read here (and once more by the route);
- otherwise the client's address. Behind an ingress that address is the ingress's, shared by
  everyone, unless `FORWARDED_ALLOW_IPS` names the ingress (see `counseling_shared.service`):
  then it is the client's, from `X-Forwarded-For`. IPv6 clients count per /64 (one host gets a
  whole /64).

`RATE_LIMIT` takes the library's notation, e.g. `6000/minute` or `50/second;1000/minute`
(every part must hold); `off` disables the limit. Counts live in the process by default
(`RATE_LIMIT_STORAGE_URI=memory://`): with several replicas each keeps its own, so a key may
reach the limit once per replica; a shared store (`redis://…`, with its client installed)
makes it one budget. In memory at most `MAX_TRACKED_KEYS` counters are kept: past it, every new
address shares one budget (keys and links keep theirs), so memory stays bounded.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared.http.auth import KeyRing
from counseling_shared.http.problems import html_page_for, problem_response
from counseling_shared.links import LinkExpired, LinkSigner, LinkTampered

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OFF = "off"
MAX_TRACKED_KEYS = 100_000
"""Counters kept in memory before new addresses share one budget (~330 bytes each: ~32 MB
for 100 000 callers of a one-part limit, measured with tracemalloc)."""
OVERFLOW_KEY = "addr:overflow"
MAX_FORM_BYTES = 16 * 1024
"""A form post is read for its link token only up to this size (link forms are small)."""
_FORM = b"application/x-www-form-urlencoded"


def parse_rate_limit(spec: str) -> list[RateLimitItem]:
    """The limits of a `RATE_LIMIT` setting (none for `off`); `ValueError` when malformed."""
    if spec.strip().lower() == OFF:
        return []
    return parse_many(spec)


def address_key(scope: Scope) -> str:
    """The client's address (already the forwarded one where a proxy is trusted); IPv6 by /64."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"addr:{host}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"addr:{address.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"addr:{address}"


RateBudget = Callable[[Scope], "str | None"]
"""A service's own credential check for the limiter: the budget's name for a request that
carries it (checked in constant time), else None."""
FormBudget = Callable[[Scope, bytes], "str | None"]
"""The same for a credential that signs the form too: given the request's (small) form."""


@dataclass(frozen=True)
class RateKeys:
    """What the limiter needs to tell callers apart: the service's keys and link signer."""

    keys: KeyRing | None = None
    signer: LinkSigner | None = None
    link_purposes: Sequence[str] = ()
    budgets: Sequence[RateBudget] = ()
    form_budgets: Sequence[FormBudget] = ()

    def bearer_key(self, scope: Scope) -> str | None:
        if self.keys is None:
            return None
        for name, value in scope["headers"]:
            if name == b"authorization":
                principal = self.keys.from_header(value.decode("latin-1"))
                return None if principal is None else f"key:{principal.key_id}"
        return None

    def link_key(self, token: str) -> str | None:
        """`link:<link_id>` for a genuine token of one of the purposes, expired or not."""
        if self.signer is None or not token or len(token) > 2000:
            return None
        for purpose in self.link_purposes:
            try:
                link = self.signer.verify(token, purpose, now=datetime.now(UTC))
            except LinkExpired as expired:
                link = expired.link
            except LinkTampered:
                continue
            return f"link:{link.link_id}"
        return None

    def own_budget(self, scope: Scope) -> str | None:
        for budget in self.budgets:
            name = budget(scope)
            if name:
                return f"own:{name}"
        return None

    def form_budget(self, scope: Scope, form: bytes) -> str | None:
        for budget in self.form_budgets:
            name = budget(scope, form)
            if name:
                return f"own:{name}"
        return None


def _token_of(raw: bytes) -> str:
    values = parse_qs(raw.decode("latin-1"), max_num_fields=50).get("token")
    return values[0] if values else ""


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Sequence[RateLimitItem],
        storage_uri: str = "memory://",
        rate_keys: RateKeys | None = None,
    ) -> None:
        self.app = app
        self._limits = list(limits)
        self._keys = rate_keys or RateKeys()
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        storage = storage_from_string(uri)
        assert isinstance(storage, Storage), "an async storage"
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS or not self._limits:
            await self.app(scope, receive, send)
            return
        key, receive = await self._key_of(scope, receive)
        for item in self._limits:
            if not await self._limiter.hit(item, key):
                await self._refuse(scope, receive, send, item, key)
                return
        await self.app(scope, receive, send)

    async def _key_of(self, scope: Scope, receive: Receive) -> tuple[str, Receive]:
        """Whose budget the request spends, and the `receive` to pass on (a form read for
        its token is replayed)."""
        found = self._keys.bearer_key(scope) or self._keys.own_budget(scope)
        if found:
            return found, receive
        keys = self._keys
        if keys.link_purposes:
            link = keys.link_key(_token_of(scope.get("query_string", b"")))
            if link is not None:
                return link, receive
        if (keys.link_purposes or keys.form_budgets) and _is_small_form(scope):
            body, receive = await _buffered(receive)
            link = keys.link_key(_token_of(body)) if keys.link_purposes else None
            found = link or keys.form_budget(scope, body)
            if found is not None:
                return found, receive
        return self._bounded(address_key(scope)), receive

    def _bounded(self, key: str) -> str:
        """Past `MAX_TRACKED_KEYS` counters in memory, new addresses share one budget."""
        storage = self._storage
        if isinstance(storage, MemoryStorage) and len(storage.storage) >= MAX_TRACKED_KEYS:
            return OVERFLOW_KEY
        return key

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
            f"This caller made more than {item} requests. Retry after {retry_after} s.",
            scope["path"],
        )
        response.headers["Retry-After"] = str(retry_after)
        await response(scope, receive, send)


def _is_small_form(scope: Scope) -> bool:
    if scope["method"] != "POST":
        return False
    content_type = b""
    length = -1
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.split(b";")[0].strip().lower()
        elif name == b"content-length" and value.isdigit():
            length = int(value)
    return content_type == _FORM and 0 <= length <= MAX_FORM_BYTES


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The body (already declared small), and a `receive` that hands it on once more."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # a disconnect: the app will see an empty body and the client is gone
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body", False) or size > MAX_FORM_BYTES:
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": size > MAX_FORM_BYTES}
        return await receive()

    return body[:MAX_FORM_BYTES], replay
