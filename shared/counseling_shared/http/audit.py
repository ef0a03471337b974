"""Every authenticated HTTP request leaves an audit entry, written here once for all routes.

The middleware opens the request's `AuditContext`; authentication names the actor, site checks
note the site. When the answer is ready it also withholds free text about clients from callers
that may not read it (integrations), then records who did what, on which resource, for which
site and client, with which status. A change that commits writes that entry in its own
transaction instead (`entry_for_commit`, used by the unit of work), so no change is committed
without its entry; the middleware then writes none. `GET /audit` (admin) reads the entries back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counseling_shared import audit, audit_batch, idempotency, metrics
from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Admin
from counseling_shared.http.problems import (
    RETRY_SOON,
    Unprocessable,
    html_page_for,
    problem_response,
)
from counseling_shared.logs import get_logger

log = get_logger(__name__)

_UNAUDITED = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
_REQUEST_ID = b"x-request-id"
_DISCLOSURES = frozenset({"GET", "HEAD"})
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuditMiddleware:
    def __init__(self, app: ASGIApp, *, free_text_fields: frozenset[str] = frozenset()) -> None:
        self.app = app
        self._free_text = free_text_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNAUDITED:
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(_REQUEST_ID, b"").decode("latin-1")[:100]
        request_id = given or uuid4().hex
        with audit.audit_context(request_id) as context:
            if scope["method"] in _CHANGES:
                context.entry_for_commit = _entry_for_commit(scope, context)
            start: dict[str, Any] = {"status": 500, "headers": []}
            chunks: list[bytes] = []

            async def hold(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(status=message["status"], headers=list(message["headers"]))
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            try:
                await self.app(scope, receive, hold)
            finally:
                body = b"".join(chunks)
                document = _json_of(body, start["headers"])
                if document is not None and not context.sees_free_text and self._free_text:
                    document = _withhold(document, self._free_text)
                    body = json.dumps(document, separators=(",", ":")).encode()
                recorded = await self._record(scope, context, start["status"], document)
        if not recorded and scope["method"] in _DISCLOSURES and start["status"] < 400:
            # A read that cannot be recorded is not answered: no disclosure without its trail.
            # (A change that committed wrote its entry with it; one that committed nothing
            # changed nothing.)
            start, body = _unrecorded_read(scope)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers += [
            (b"content-length", str(len(body)).encode()),
            (_REQUEST_ID, request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _record(
        self, scope: Scope, context: audit.AuditContext, status: int, document: Any
    ) -> bool:
        """Whether the trail has what it needs (False: the entry could not be written)."""
        if context.actor is None:  # not authenticated: nothing was read or changed
            return True
        if idempotency.answered_as_replay():
            return True  # changed nothing; the replay's read of the resource is recorded
        if context.committed is not None:  # written with the change, in its transaction
            _compare(context.committed, _entry(scope, context, status, document))
            return True
        pool = getattr(scope["app"].state, "pool", None)
        if pool is None:
            return True
        entry = _entry(scope, context, status, document)
        try:
            await audit_batch.record(pool, entry)
        except Exception:  # say loudly that the trail has a gap
            log.exception("audit_write_failed", request_id=context.request_id, action=entry.action)
            return False
        return True


def _entry_for_commit(
    scope: Scope, context: audit.AuditContext
) -> Callable[[Mapping[str, Any]], audit.AuditEntry | None]:
    """A change's entry as its transaction writes it, before the answer exists: the status is
    the route's success status (what the caller gets once the change commits) unless the route
    noted its own (`audit.note_answer`); what the change is about (`id`, `site_id`,
    `client_id`) stands in for the answer's fields."""

    def entry(about: Mapping[str, Any]) -> audit.AuditEntry | None:
        if context.actor is None:
            return None
        status = context.answer_status or success_status(scope.get("route"))
        return _entry(scope, context, status, dict(about))

    return entry


def success_status(route: object) -> int:
    """The status a route answers when it succeeds: its declared one, else FastAPI's 200."""
    declared = getattr(route, "status_code", None)
    return int(declared) if declared is not None else 200


def _compare(committed: audit.AuditEntry, answered: audit.AuditEntry) -> None:
    """Say so when the entry written with the change is not what the answer would have
    recorded (a route answering another status than its declared one, say)."""
    if committed.status != answered.status:
        metrics.AUDIT_STATUS_MISMATCHES.labels(committed.action).inc()
        log.error(
            "audit_status_differs",
            request_id=committed.request_id,
            action=committed.action,
            recorded=committed.status,
            answered=answered.status,
        )
        return
    differing = [
        name
        for name in ("resource_id", "site_id", "client_id")
        if getattr(answered, name) is not None
        and getattr(committed, name) != getattr(answered, name)
    ]
    if differing:
        log.warning(
            "audit_entry_differs",
            request_id=committed.request_id,
            action=committed.action,
            fields=differing,
        )


def _unrecorded_read(scope: Scope) -> tuple[dict[str, Any], bytes]:
    # A person's page: HTML, saying to try again (and when, as the problem does).
    page = html_page_for(Request(scope), 503, RETRY_SOON)
    if page is not None:
        return {"status": 503, "headers": list(page.raw_headers)}, bytes(page.body)
    answer = problem_response(
        503,
        "unavailable",
        "Service unavailable",
        "This read could not be recorded in the audit trail, so it was not answered; try again"
        " shortly.",
        instance=scope["path"],
        headers=RETRY_SOON,
    )
    return {"status": 503, "headers": list(answer.raw_headers)}, bytes(answer.body)


def _action(name: str, context: audit.AuditContext) -> str:
    return f"{name}:{context.action_note}" if context.action_note else name


def _entry(
    scope: Scope, context: audit.AuditContext, status: int, document: Any
) -> audit.AuditEntry:
    route = scope.get("route")
    template = str(getattr(route, "path", scope["path"]))
    endpoint = scope.get("endpoint")
    params: dict[str, Any] = scope.get("path_params", {})
    single = document if isinstance(document, dict) else _shared_by_all(document)
    query = _query(scope)
    resource = next((part for part in template.split("/") if part), "/")
    if resource == "clients" and isinstance(document, dict) and "client_id" not in single:
        single = {**single, "client_id": single.get("id")}  # a client registered or corrected
    assert context.actor is not None
    return audit.AuditEntry(
        actor=context.actor,
        action=_action(getattr(endpoint, "__name__", scope["method"].lower()), context),
        resource=resource,
        resource_id=str(list(params.values())[-1])
        if params
        else _text(single.get("id") if isinstance(document, dict) else None),
        site_id=context.site_id or _uuid(single.get("site_id")) or _uuid(query.get("site_id")),
        client_id=context.client_id
        or _uuid(params.get("client_id"))
        or _uuid(single.get("client_id"))
        or (_uuid(single.get("recipient_id")) if single.get("recipient_kind") == "client" else None)
        or _uuid(query.get("client_id")),
        request_id=context.request_id,
        status=status,
        on_behalf_of=context.on_behalf_of,
    )


def _shared_by_all(document: Any) -> dict[str, Any]:
    """Of a list answer, the values every item agrees on (a list of one client's appointments
    names that client and site), so the entry is found by client and by a site's admin."""
    if not isinstance(document, list) or not document:
        return {}
    if not all(isinstance(item, dict) for item in document):
        return {}
    fields = ("site_id", "client_id", "recipient_id", "recipient_kind")
    return {
        name: document[0].get(name)
        for name in fields
        if all(item.get(name) == document[0].get(name) for item in document)
    }


def _query(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _json_of(body: bytes, headers: list[tuple[bytes, bytes]]) -> Any:
    content_type = dict(headers).get(b"content-type", b"")
    if b"json" not in content_type or not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _withhold(document: Any, fields: frozenset[str]) -> Any:
    if isinstance(document, list):
        return [_withhold(item, fields) for item in document]
    if isinstance(document, dict):
        return {
            k: (None if k in fields and v is not None else _withhold(v, fields))
            for k, v in document.items()
        }
    return document


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


class ActorOut(BaseModel):
    kind: str = Field(
        description="`key` (an API key, by its id), `staff`, `link`, `service` (another"
        " service asking over the bus: booking's client directory, a client's reply to a"
        " reminder), `operator` (a person at `counselctl`, erasing a client) or `call` (a page's"
        " phone call acknowledged by a key press, by its call id). The contract names `key`,"
        " `staff` and `link`; treat a kind you do not know as other."
    )
    id: str


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: ActorOut
    on_behalf_of: UUID | None = Field(description="The staff member an admin acted for.")
    action: str = Field(description="The operation (the route's name).")
    resource: str
    resource_id: str | None
    site_id: UUID | None
    client_id: UUID | None
    request_id: str
    status: int


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next entries.")


audit_router = APIRouter(tags=["audit"])


_MAX_ENTRY_ID = 2**63 - 1  # the `audit.id` bigserial


def _after_id(cursor: str | None) -> int:
    """The entry id a cursor this service gave names; anything else is a 422 naming `cursor`
    (a number past bigint would otherwise reach PostgreSQL and fail there, as a 500)."""
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > _MAX_ENTRY_ID:
        message = "not a cursor this list gave out"
        raise Unprocessable(f"cursor: {message}", [{"field": "cursor", "message": message}])
    return int(cursor)


@audit_router.get("/audit")
async def read_audit(
    request: Request,
    caller: Admin,
    site_id: UUID | None = None,
    client_id: UUID | None = None,
    actor_id: str | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Audit entries, oldest first (admin keys only; a site-bound admin sees its sites)."""
    if site_id is not None:
        caller.require_site(site_id)
    after = _after_id(cursor)
    query = audit.AuditQuery(
        site_id=site_id,
        client_id=client_id,
        actor_id=actor_id,
        since=since,
        until=until,
        after_id=after,
        limit=limit,
        site_ids=sorted(caller.site_ids) if caller.site_ids is not None else None,
    )
    rows = await audit.find(request.app.state.pool, query)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[
            AuditEntryOut(
                id=r["id"],
                at=r["at"],
                actor=ActorOut(kind=r["actor_kind"], id=r["actor_id"]),
                on_behalf_of=r["on_behalf_of"],
                action=r["action"],
                resource=r["resource"],
                resource_id=r["resource_id"],
                site_id=r["site_id"],
                client_id=r["client_id"],
                request_id=r["request_id"],
                status=r["status"],
            )
            for r in rows
        ],
        next_cursor=str(rows[-1]["id"]) if more else None,
    )
