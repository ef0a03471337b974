"""A ceiling on request bodies (contract v2: over 64 KiB is a 413 problem+json; on a service's
HTML pages, its HTML error page for 413 instead, `install_html_error_pages`).

A declared `Content-Length` over the limit is refused before a byte of the body is read. A body
without one (chunked transfer encoding) is counted as it arrives and refused as soon as it
passes the limit, so nobody can make a service buffer an endless stream.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared.http.problems import html_page_for, problem_response

MAX_BODY_BYTES = 64 * 1024
# After refusing a body, this much more of it is read and thrown away so that a client still
# sending sees the 413 rather than a reset connection; a longer stream is cut off.
_DRAIN_BYTES = 1024 * 1024
_KIND, _TITLE = "payload-too-large", "Request body too large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit (an HTTPException, so FastAPI's
    body parsing lets it through instead of calling it malformed JSON)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_413(scope, receive, send, self.max_bytes)
            return

        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body"):
                        await _drain(receive)
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # Raised outside the routes (a middleware buffering the body): answer here.
            if not started:
                await _send_413(scope, receive, send, self.max_bytes)


async def _drain(receive: Receive) -> None:
    drained = 0
    while drained <= _DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


def _too_large(request: Request, detail: str) -> Response:
    """A person's form post gets the page's HTML error, an API client problem+json."""
    page = html_page_for(request, 413)
    return page or problem_response(413, _KIND, _TITLE, detail, request.url.path)


async def _send_413(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    # Refused before the app's routing: Starlette has set scope["app"], whose state holds the
    # HTML error page.
    response = _too_large(Request(scope), f"The request body is larger than {max_bytes} bytes.")
    response.headers["connection"] = "close"  # the rest of the body is never read
    await response(scope, receive, send)


def install_body_limit(app: FastAPI, max_bytes: int = MAX_BODY_BYTES) -> None:
    """Add the middleware, and answer a `BodyTooLarge` raised inside a route (a chunked body
    read by the route) as problem+json, or as the HTML error page of a person's page."""

    async def too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLarge)
        return _too_large(request, str(exc.detail))

    app.add_exception_handler(BodyTooLarge, too_large)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes)
