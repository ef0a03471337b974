"""RFC 9457 problem+json errors, for domain errors and malformed or invalid requests."""

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from counseling_shared.logs import get_logger

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://counseling-suite.example/problems/"
log = get_logger(__name__)


class Problem(Exception):
    """An error answered as problem+json. `kind` becomes the `type` URI's last segment."""

    def __init__(self, status: int, kind: str, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extensions = extensions


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, "not-found", f"{what} not found", f"No {what} with id {ident}.")


class Conflict(Problem):
    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, "conflict", "Conflict", detail, **extensions)


class Unprocessable(Problem):
    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(422, "validation-error", "Invalid request", detail, errors=errors or [])


class NotReady(Problem):
    """The service is up but cannot reach its database yet (start-up or an outage)."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "unavailable",
            "Service unavailable",
            "The service cannot reach its database right now; try again shortly.",
        )


def problem_response(
    status: int, kind: str, title: str, detail: str, instance: str | None = None, **ext: Any
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.kind, exc.title, exc.detail, request.url.path, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        detail = (
            "The request body is not valid JSON."
            if malformed
            else "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        )
        return problem_response(
            422, "validation-error", "Invalid request", detail, request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        return problem_response(
            exc.status_code,
            title.get(exc.status_code, "error").lower().replace(" ", "-"),
            title.get(exc.status_code, "Error"),
            str(exc.detail),
            request.url.path,
        )

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(ConnectionError)
    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        # The database went away under the request: nothing was committed, retry later.
        log.warning("database_unreachable", path=request.url.path, error=repr(exc))
        problem = NotReady()
        return problem_response(
            problem.status, problem.kind, problem.title, problem.detail, request.url.path
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(
            500, "internal", "Internal error", "An unexpected error occurred.", request.url.path
        )
