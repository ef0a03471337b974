"""RFC 9457 problem+json errors, for domain errors and malformed or invalid requests."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from counseling_shared import audit, idempotency
from counseling_shared.logs import get_logger

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://counseling-suite.example/problems/"
log = get_logger(__name__)


class Problem(Exception):
    """An error answered as problem+json. `kind` becomes the `type` URI's last segment."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers  # e.g. Retry-After on a 503
        self.extensions = extensions


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, "not-found", f"{what} not found", f"No {what} with id {ident}.")


class Conflict(Problem):
    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, "conflict", "Conflict", detail, **extensions)


class Unprocessable(Problem):
    """A 422: `errors` must name each bad field (the contract), so it is not optional."""

    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, "validation-error", "Invalid request", detail, errors=errors)


RETRY_SOON: Mapping[str, str] = {"Retry-After": "5"}
"""What a 503 tells its caller: nothing was done, try again in a few seconds."""


class NotReady(Problem):
    """The service is up but cannot reach its database yet (start-up or an outage)."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "unavailable",
            "Service unavailable",
            "The service cannot reach its database right now; try again shortly.",
            headers=RETRY_SOON,
        )


_CHANGE_UNRECORDED = (
    503,
    "unavailable",
    "Service unavailable",
    "This change could not be recorded in the audit trail, so it was not made; try again shortly.",
)
_NEUTRAL: dict[type[Exception], tuple[int, str, str, str]] = {
    audit.AuditUnavailable: _CHANGE_UNRECORDED,
    idempotency.KeyInUse: (
        409,
        "request-in-progress",
        "Request in progress",
        "A request with this Idempotency-Key is still being processed.",
    ),
    # Its answer is never sent: the idempotency middleware answers with a replay.
    idempotency.AlreadyDone: (409, "request-done", "Request done", "Replayed."),
}
"""The errors the write path raises without knowing about HTTP (`counseling_shared.audit`,
`counseling_shared.idempotency`), as the problems they are answered with."""


def problem_of(exc: Exception) -> Problem | None:
    """The problem `exc` is answered with: itself, or a write-path error's mapping."""
    if isinstance(exc, Problem):
        return exc
    for kind, (status, name, title, detail) in _NEUTRAL.items():
        if isinstance(exc, kind):
            return Problem(
                status, name, title, detail, headers=RETRY_SOON if status == 503 else None
            )
    return None


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **ext: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(ext)
    answer_headers = dict(headers or {})
    if status == 401:
        answer_headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=answer_headers)


# pydantic prefixes a validator's own message with its kind; a client reads plain sentences.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "Unknown field: this request has no field of that name."
    message = str(error.get("msg", "invalid"))
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or "body", "message": plain_message(err)})
    return errors


def _position(body: bytes, offset: int) -> str:
    """`position 12 (line 2, column 3)`: where a parser stopped, counted in characters."""
    text = body.decode("utf-8", errors="replace")[:offset]
    line = text.count("\n") + 1
    column = offset - (text.rfind("\n") + 1) + 1
    return f"position {offset} (line {line}, column {column})"


async def _malformed_json(request: Request, error: Mapping[str, Any]) -> JSONResponse:
    loc = error.get("loc", ())
    offset = loc[-1] if loc and isinstance(loc[-1], int) else 0
    reason = str((error.get("ctx") or {}).get("error", "invalid JSON"))
    where = _position(await request.body(), offset)
    return problem_response(
        400,
        "malformed-body",
        "Malformed request body",
        f"The request body is not valid JSON: {reason} at {where}.",
        request.url.path,
    )


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """Why a JSON body was not read as one, when it was sent as something else: `curl -d` without
    `-H 'Content-Type: application/json'` sends a form, and the body then fails as a whole
    ("Input should be a valid dictionary or object to extract fields from")."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return None
    whole = [e for e in exc.errors() if tuple(e.get("loc", ())) == ("body",)]
    if not whole or whole[0].get("type") not in ("model_attributes_type", "dict_type"):
        return None
    return (
        "the body must be JSON sent with Content-Type: application/json "
        f"(this request's Content-Type: {kind or 'none'})"
    )


async def _undecodable_body(request: Request) -> str | None:
    """Why FastAPI could not parse the body, when it is not UTF-8; else None."""
    body = await request.body()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"The request body is not valid UTF-8: byte 0x{body[exc.start]:02x} at position "
            f"{exc.start}."
        )
    return None


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _leaf_routes(included.routes)
        else:
            yield route


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on this request's path (for `Allow`)."""
    scope = {**request.scope, "method": "\x00"}
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        if getattr(route, "methods", None) and route.matches(dict(scope))[0] != Match.NONE:
            methods.update(route.methods)
    return sorted(methods)


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Content too large",
    429: "Too many requests",
}


HtmlErrorPage = Callable[[Request, int], Response | None]
"""An HTML error page for a request a person made in a browser (the status it would have
answered: 403 for a link with no token, 500, 503), or None to answer problem+json."""


def install_html_error_pages(app: FastAPI, page: HtmlErrorPage) -> None:
    """Let `page` answer the errors of the service's HTML routes (it decides which by the
    request), so a person never reads problem+json."""
    app.state.html_error_page = page


def html_page_for(
    request: Request, status: int, headers: Mapping[str, str] | None = None
) -> Response | None:
    """The app's HTML error page for this request, if it has one (`install_html_error_pages`).
    `headers`: those the problem+json answer would carry (a 503's `Retry-After`), which the
    page carries too (a header the page sets itself is kept)."""
    make: HtmlErrorPage | None = getattr(request.app.state, "html_error_page", None)
    page = make(request, status) if make is not None else None
    if page is not None:
        for name, value in (headers or {}).items():
            if name not in page.headers:
                page.headers[name] = value
    return page


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, raised: Exception) -> Response:
        exc = problem_of(raised)
        assert exc is not None  # registered for `Problem` and the write path's own errors
        if (page := html_page_for(request, exc.status, exc.headers)) is not None:
            return page
        return problem_response(
            exc.status,
            exc.kind,
            exc.title,
            exc.detail,
            request.url.path,
            exc.headers,
            **exc.extensions,
        )

    for neutral in _NEUTRAL:
        app.add_exception_handler(neutral, _problem)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if (page := html_page_for(request, 422)) is not None:
            return page
        malformed = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if malformed:
            return await _malformed_json(request, malformed[0])
        errors = _field_errors(exc)
        if (not_json := _not_json(request, exc)) is not None:
            errors = [{"field": "body", "message": not_json}]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            422, "validation-error", "Invalid request", detail, request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (page := html_page_for(request, exc.status_code, exc.headers)) is not None:
            return page
        status, detail = exc.status_code, str(exc.detail)
        headers = dict(exc.headers or {})
        title = _TITLES.get(status, "Error")
        kind = title.lower().replace(" ", "-")
        if status == 400:
            undecodable = await _undecodable_body(request)
            if undecodable:
                kind, title, detail = "malformed-body", "Malformed request body", undecodable
        if status == 405:
            # Starlette names only the first route on the path; the app may have several.
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(status, kind, title, detail, request.url.path, headers)

    for unreachable in DATABASE_UNREACHABLE:
        app.add_exception_handler(unreachable, _unreachable)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        # Raised outside the routes (the idempotency or audit middleware reading the database),
        # an exception skips the handlers above and lands here: answer it as they would.
        if isinstance(exc, DATABASE_UNREACHABLE):
            return await _unreachable(request, exc)
        if problem_of(exc) is not None:
            return await _problem(request, exc)
        log.exception("unhandled_error", path=request.url.path)
        if (page := html_page_for(request, 500)) is not None:
            return page
        return problem_response(
            500, "internal", "Internal error", "An unexpected error occurred.", request.url.path
        )


DATABASE_UNREACHABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    # A pooled connection whose server went away mid-operation ("cannot switch to state …").
    asyncpg.InternalClientError,
    ConnectionError,
)
"""The database went away under a request: nothing was committed, the client may retry."""


async def _unreachable(request: Request, exc: Exception) -> Response:
    # The database went away under the request: nothing was committed, retry later.
    log.warning("database_unreachable", path=request.url.path, error=repr(exc))
    problem = NotReady()
    if (page := html_page_for(request, problem.status, problem.headers)) is not None:
        return page
    return problem_response(
        problem.status,
        problem.kind,
        problem.title,
        problem.detail,
        request.url.path,
        problem.headers,
    )
