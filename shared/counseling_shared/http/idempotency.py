"""`Idempotency-Key` for POST commands (contract: Conventions).

The same key with the same body answers as the first request did and changes nothing: the
same status, with the resource as it is now. The same key with another body is a 422. While
the first request's command runs, the key answers 409; a key is never taken over. Records are
written in the command's own transaction (see `counseling_shared.idempotency`) and expire after
`IDEMPOTENCY_KEY_TTL`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared import idempotency
from counseling_shared.http.auth import KeyRing
from counseling_shared.http.problems import PROBLEM_JSON

_TYPE = "https://counseling-suite.example/problems/"
_NOT_FORWARDED = {b"content-length", b"content-type", b"idempotency-key", b"transfer-encoding"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, keys: KeyRing, ttl: timedelta) -> None:
        self.app = app
        self._keys = keys
        self._ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        principal = self._keys.from_header(headers.get("authorization", ""))
        pool: asyncpg.Pool[Any] | None = getattr(scope["app"].state, "pool", None)
        if not key or principal is None or pool is None:
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        request_hash = hashlib.sha256(
            scope["method"].encode() + scope["path"].encode() + b"\0" + body
        ).hexdigest()
        found = await idempotency.find(pool, principal.key_id, key, self._ttl)
        if found is not None:
            await self._answer_again(scope, found, request_hash, send)
            return

        claim = idempotency.Claim(principal.key_id, key, request_hash, self._ttl, scope)
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        with idempotency.claiming(claim):
            await self.app(scope, _replay(body, receive), hold)
        if claim.found is not None:  # recorded by another request between our look and lock
            await self._answer_again(scope, claim.found, request_hash, send)
            return
        for message in held:
            await send(message)

    async def _answer_again(
        self, scope: Scope, record: idempotency.Record, request_hash: str, send: Send
    ) -> None:
        if record.request_hash != request_hash:
            await _send_problem(
                send,
                422,
                "idempotency-key-reused",
                "Idempotency key reused",
                "This Idempotency-Key was used with a different request.",
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
        }
        for routed in ("route", "endpoint", "path_params"):
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


async def _send_problem(send: Send, status: int, kind: str, title: str, detail: str) -> None:
    body = json.dumps(
        {"type": _TYPE + kind, "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_JSON.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
