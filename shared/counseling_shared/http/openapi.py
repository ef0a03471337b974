"""The OpenAPI document every service serves, made to tell the truth about its answers.

FastAPI declares a 422 `HTTPValidationError` that no route answers and no other error. Here:
- every error is declared with one problem+json schema (`Problem`; a 422 is a `ValidationProblem`
  with `errors: [{field, message}]`);
- what every route can answer is declared centrally (401 and 403 where a key is needed, 429
  past the key's rate limit, 503 while the database is out of reach, 400 for a malformed body,
  413 for one over 64 KiB, 422 for invalid input, 409 for a POST whose `Idempotency-Key` is in
  flight);
- what only some routes answer (404, 409, …) each route names with `problem_responses(...)`;
- a bearer `securitySchemes` applies to every operation but the public probes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from counseling_shared.http.problems import PROBLEM_JSON

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
BEARER = "bearer"

_PROBLEM_REF = "#/components/schemas/Problem"
_VALIDATION_REF = "#/components/schemas/ValidationProblem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem. Some problems add members (e.g. a 409's "
    "`conflicting_appointment_id`).",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person to read."},
        "instance": {"type": "string", "description": "The request's path."},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}

VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "allOf": [
        {"$ref": _PROBLEM_REF},
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "description": "Each invalid (or unknown) field and why.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {
                                "type": "string",
                                "description": "Dotted path, e.g. `levels.0.ack_timeout`.",
                            },
                            "message": {"type": "string"},
                        },
                        "required": ["field", "message"],
                    },
                }
            },
            "required": ["errors"],
        },
    ],
}

DESCRIPTIONS = {
    400: "Malformed body: not JSON or not UTF-8; `detail` gives the position.",
    401: "No Bearer API key, or an unknown one.",
    403: "The key may not act on that site (or in that role); a deactivated staff member's key"
    " gets `type` `.../problems/staff-deactivated`.",
    404: "No such resource (or none the key may see).",
    409: "Conflict with the resource's current state.",
    413: "The request body is over 64 KiB (contract v2).",
    422: "Invalid input: `errors` names each bad or unknown field.",
    429: "This key's rate limit (`RATE_LIMIT`) is spent for now; retry after `Retry-After`"
    " seconds.",
    503: "The service cannot reach its database right now (start-up or an outage), or could not"
    " write the request's audit entry: nothing was done; retry after `Retry-After` seconds.",
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key with the same body answers the first response again and "
    "changes nothing; with another body, 422; while the first request runs, 409.",
    "schema": {"type": "string"},
}


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    ref = _VALIDATION_REF if status == 422 else _PROBLEM_REF
    return {
        "description": description or DESCRIPTIONS.get(status, "Error."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": ref}}},
    }


def problem_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """For a route decorator's `responses=`: the problems only this route answers.

    `problem_responses(404, 409)`, or with a route's own words: `problem_responses(404,
    s409="Not booked any more.")`.
    """
    found: dict[int | str, dict[str, Any]] = {s: _problem(s) for s in statuses}
    for key, text in described.items():
        status = int(key.removeprefix("s"))
        found[status] = _problem(status, text)
    return found


def _operations(document: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _declare(operation: dict[str, Any], status: int) -> None:
    responses = operation["responses"]
    if str(status) not in responses:
        responses[str(status)] = _problem(status)


def truthful(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its error answers and security as the service really has them."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    document["components"]["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`API_KEYS`; `dev-admin-key` on the development stack).",
        }
    }
    document["security"] = [{BEARER: []}]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        if "422" in responses:
            responses["422"] = _problem(422)
        if path in PUBLIC_PATHS or operation.get("security") == []:
            # A probe, or a route whose credential is a signed link, not an API key. A body it
            # takes can still be malformed.
            operation["security"] = []
            if "requestBody" in operation:
                _declare(operation, 400)
                operation["responses"] = dict(sorted(responses.items()))
            continue
        for status in (401, 403, 429, 503):  # 429: every keyed request spends its key's budget
            _declare(operation, status)
        if "requestBody" in operation:
            _declare(operation, 400)
            _declare(operation, 413)  # http.body_limit, in front of every route
            _declare(operation, 422)
        if method == "post":
            operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            _declare(operation, 409)
            _declare(operation, 422)
        operation["responses"] = dict(sorted(responses.items()))
    return document


def describe_api(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Make `app.openapi()` (and so `/openapi.json`) answer the truthful document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return openapi
