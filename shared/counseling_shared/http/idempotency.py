"""`Idempotency-Key` for POST commands (contract: Conventions).

The same key with the same body answers as the first request did and changes nothing: the
same status, with the resource as it is now (read through the app as the same caller, so the
body has the first answer's shape; a resource gone or no longer the caller's to see answers
that read's 404 or 403 instead). The same key with another body is a 422. While
the first request's command runs, the key answers 409; a key is never taken over. Records are
written in the command's own transaction (see `counseling_shared.idempotency`) and expire after
`IDEMPOTENCY_KEY_TTL`.

The key is looked up before the command runs, so a replay runs none of it. A route of
`KeyCheckedInTransaction` skips that look-up (one round trip, and a pool acquire, per keyed
command): its command only reads before its unit of work, whose first statement finds the key
under its lock, so a replay costs the body's validation and that statement.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared import idempotency
from counseling_shared.http.auth import ApiKeyAuth, request_state
from counseling_shared.http.problems import DATABASE_UNREACHABLE, PROBLEM_JSON, NotReady
from counseling_shared.logs import get_logger

_TYPE = "https://counseling-suite.example/problems/"
log = get_logger(__name__)
_NOT_FORWARDED = {b"content-length", b"content-type", b"idempotency-key", b"transfer-encoding"}
_REPLAY_READ = "counseling.replay_read"  # set in the scope of a replay's read only

REPLAYED = "/replayed"
"""The prefix of replay-only reads: a command whose answer is no resource's read (a secret
shown once, a closed episode, one override of a schedule) names one of these
(`idempotency.name_resource`), declared with `ReplayOnly`."""


def _replay_only(request: Request) -> None:
    # An outside request cannot set a scope key: to it the route does not exist.
    if not request.scope.get(_REPLAY_READ):
        raise HTTPException(404)


ReplayOnly = Depends(_replay_only)
"""For a route under `REPLAYED`: answered only to a replay's read, an unknown route (404) to
anything else. Declare it with `include_in_schema=False, dependencies=[ReplayOnly]`."""


class KeyCheckedInTransaction(APIRoute):
    """A route whose command reads, and changes nothing, before its unit of work: its key is
    looked up there, under the key's lock, not by the middleware before the command runs.

    A replay runs the body's validation again: if the command is refused before its unit of
    work (or opens none), the key is looked up afterwards, so a recorded key is answered as a
    replay (or a 422 for another body) whatever the command says now."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handle(request)
            except idempotency.KeyInUse:
                raise  # another request holds the key: not ours to answer
            except Exception:
                await _look_up_if_unsettled(request)
                raise
            await _look_up_if_unsettled(request)
            return response

        return answer


async def _look_up_if_unsettled(request: Request) -> None:
    # A key is claimed only once the pool is open (see the middleware).
    if (pool := getattr(request.app.state, "pool", None)) is not None:
        await idempotency.look_up_if_unsettled(pool)


class _PostRoutes:
    """Which route a POST reaches, as far as the look-up is concerned: the first route (or
    mount) whose path matches and takes POST, as routing picks it. A path without parameters
    is remembered (bounded by the routes), so the hot paths match once."""

    def __init__(self) -> None:
        self._candidates: list[tuple[re.Pattern[str], bool, bool]] | None = None
        self._by_path: dict[str, bool] = {}

    def checked_in_transaction(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if (known := self._by_path.get(path)) is not None:
            return known
        for regex, in_transaction, literal in self._routes(scope["app"]):
            if regex.match(path):
                if literal:
                    self._by_path[path] = in_transaction
                return in_transaction
        return False

    def _routes(self, app: Any) -> list[tuple[re.Pattern[str], bool, bool]]:
        if self._candidates is None:
            found = []
            for context in iter_route_contexts(app.routes):
                methods, template = context.methods, context.path_format
                if template is None or (methods is not None and "POST" not in methods):
                    continue
                # A mount (no methods) takes every method: it wins over later routes.
                regex = getattr(context, "path_regex", None) or compile_path(template)[0]
                in_transaction = isinstance(context.original_route, KeyCheckedInTransaction)
                found.append((regex, in_transaction, "{" not in template))
            self._candidates = found
        return self._candidates


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, auth: ApiKeyAuth, ttl: timedelta) -> None:
        self.app = app
        self._auth = auth
        self._ttl = ttl
        self._routes = _PostRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # latin-1, as the audit middleware reads them: any byte decodes, so a crafted header
        # byte (\xe9) is an ordinary value the route judges, never a 500.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        principal = self._auth.keys.from_header(headers.get("authorization", ""))
        pool: asyncpg.Pool[Any] | None = getattr(scope["app"].state, "pool", None)
        if not key or principal is None or pool is None:
            await self.app(scope, receive, send)
            return
        if await self._auth.is_deactivated(principal, request_state(scope)):
            # Never replay an earlier answer to a member who has left: the route refuses them.
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        hashes = request_hashes(scope["method"], scope["path"], body)
        request_hash = hashes[0]
        look_up_now = not self._routes.checked_in_transaction(scope)
        if look_up_now:
            try:
                found = await idempotency.find(pool, principal.key_id, key, self._ttl)
            except DATABASE_UNREACHABLE as exc:
                # Outside the routes, so answered here: a retry with the same key is safe.
                log.warning("database_unreachable", path=scope["path"], error=repr(exc))
                problem = NotReady()
                await _send_problem(
                    send,
                    problem.status,
                    problem.kind,
                    problem.title,
                    problem.detail,
                    headers=problem.headers,
                )
                return
            if found is not None:
                await self._answer_again(scope, found, hashes, send)
                return

        claim = idempotency.Claim(
            principal.key_id, key, request_hash, self._ttl, scope, looked_up=look_up_now
        )
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        with idempotency.claiming(claim):
            await self.app(scope, _replay(body, receive), hold)
        if claim.found is not None:  # recorded by another request between our look and lock
            await self._answer_again(scope, claim.found, hashes, send)
            return
        for message in held:
            await send(message)

    async def _answer_again(
        self, scope: Scope, record: idempotency.Record, hashes: tuple[str, ...], send: Send
    ) -> None:
        if record.request_hash not in hashes:
            await _send_problem(
                send,
                422,
                "idempotency-key-reused",
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request.",
                # Every 422 names what is wrong (the documented ValidationProblem).
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "message": "was already used with a different request",
                    }
                ],
            )
            return
        status, content_type, body = record.status_code, b"application/json", b"{}"
        if record.location is not None:
            read_status, content_type, body = await self._read(scope, record.location)
            if read_status != 200:  # gone, or no longer this key's to see: say so
                status = read_status
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"idempotent-replayed", b"true")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _read(self, scope: Scope, location: str) -> tuple[int, bytes, bytes]:
        """GET the resource through the app, as the same caller (audited like any read)."""
        path, _, query = location.partition("?")
        read_scope = {
            **scope,
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(k, v) for k, v in scope["headers"] if k.lower() not in _NOT_FORWARDED],
            _REPLAY_READ: True,
        }
        # Routed afresh; the read must not rename the command's telemetry span either.
        for routed in ("route", "endpoint", "path_params", "fastapi.telemetry"):
            read_scope.pop(routed, None)
        answer: dict[str, Any] = {"status": 500, "type": b"application/json", "body": b""}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["type"] = dict(message.get("headers", [])).get(
                    b"content-type", b"application/json"
                )
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(read_scope, receive, capture)
        return answer["status"], answer["type"], answer["body"]


def request_hashes(method: str, path: str, body: bytes) -> tuple[str, ...]:
    """What identifies "the same body": its JSON value, however it is spelt (key order,
    whitespace, escapes), first; then its bytes, as records written before this recorded it.

    Contract: the same key with the same body replays. A client that serialises its retry
    afresh (another key order, other spacing) sends the same body, which was a 422."""
    prefix = method.encode() + path.encode() + b"\0"
    raw = hashlib.sha256(prefix + body).hexdigest()
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8): its bytes are all it is
        return (raw,)
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # "json\0" keeps a canonical hash from ever equalling a raw one.
    return (hashlib.sha256(prefix + b"json\0" + canonical.encode()).hexdigest(), raw)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass through (disconnect notices)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _send_problem(
    send: Send,
    status: int,
    kind: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> None:
    body = json.dumps(
        {"type": _TYPE + kind, "title": title, "status": status, "detail": detail, **extensions}
    ).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
