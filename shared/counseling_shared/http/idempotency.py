"""`Idempotency-Key` for POST commands (contract: Conventions).

The same key with the same body replays the first response and changes nothing; the same key
with another body is a 422. A key whose first request is still running answers 409; one whose
first request died without an answer for `stale_after` seconds is taken over by the next retry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared.http.auth import parse_api_keys
from counseling_shared.http.problems import PROBLEM_JSON

_TYPE = "https://counseling-suite.example/problems/"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, api_keys: str, stale_after: float = 60.0) -> None:
        self.app = app
        self._keys = parse_api_keys(api_keys)
        self._stale_after = stale_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        principal = self._keys.get(token.strip()) if scheme.lower() == "bearer" else None
        pool: asyncpg.Pool[Any] | None = getattr(scope["app"].state, "pool", None)
        if not key or principal is None or pool is None:
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        request_hash = hashlib.sha256(
            scope["method"].encode() + scope["path"].encode() + b"\0" + body
        ).hexdigest()
        claimed = await pool.fetchval(
            """INSERT INTO idempotency_keys (principal, key, method, path, request_hash)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (principal, key) DO UPDATE SET
                   request_hash = EXCLUDED.request_hash, created_at = now()
                   WHERE idempotency_keys.status_code IS NULL
                     AND idempotency_keys.request_hash = EXCLUDED.request_hash
                     AND idempotency_keys.created_at < now() - make_interval(secs => $6)
               RETURNING true""",
            principal.key_id,
            key,
            scope["method"],
            scope["path"],
            request_hash,
            self._stale_after,
        )
        if not claimed:
            await self._answer_from_record(pool, principal.key_id, key, request_hash, send)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, _replay(body, receive), capture)
        finally:
            if captured["status"] < 500:
                content_type = dict(captured["headers"]).get(b"content-type", b"").decode()
                await pool.execute(
                    """UPDATE idempotency_keys SET status_code = $3, response_body = $4,
                           content_type = $5 WHERE principal = $1 AND key = $2""",
                    principal.key_id,
                    key,
                    captured["status"],
                    captured["body"],
                    content_type,
                )
            else:  # a failed attempt may be retried with the same key
                await pool.execute(
                    "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2",
                    principal.key_id,
                    key,
                )

    async def _answer_from_record(
        self, pool: asyncpg.Pool[Any], principal: str, key: str, request_hash: str, send: Send
    ) -> None:
        row = await pool.fetchrow(
            "SELECT * FROM idempotency_keys WHERE principal = $1 AND key = $2", principal, key
        )
        if row is None or row["request_hash"] != request_hash:
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
        elif row["status_code"] is None:
            await _send_problem(
                send,
                409,
                "request-in-progress",
                "Request in progress",
                "A request with this Idempotency-Key is still being processed.",
            )
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": row["status_code"],
                    "headers": [
                        (b"content-type", (row["content_type"] or "application/json").encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": row["response_body"] or b""})


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
    send: Send, status: int, kind: str, title: str, detail: str, **extensions: Any
) -> None:
    body = json.dumps(
        {"type": _TYPE + kind, "title": title, "status": status, "detail": detail, **extensions}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_JSON.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
