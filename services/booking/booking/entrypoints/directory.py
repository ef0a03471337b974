"""The client directory: core NATS request-reply on `booking.directory.contact` (and on
`booking.directory.contacts` for several clients at once: `directory_batch`).

notify asks for a client's address when it sends (contract: client contact details live only
in booking). Request `{"client_id": "<uuid>"}`; reply `{"client_id", "email", "phone",
"locale", "timezone", "preferred_channel", "site_id"}`, or `{"error": "not_found"}`,
`{"error": "bad_request"}`, `{"error": "unavailable"}` (database trouble: ask again later).
Replicas share the subject through one queue group. Nothing here is logged but ids.

Each answer naming a client is a read of client data, so it is an audit entry like an HTTP
read: the actor is the asking service (`service`, `notify` or `crisis`), known from the reply
subject, and contact details never leave without their entry.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from nats.aio.msg import Msg
from prometheus_client import Counter

from booking.adapters import projections
from booking.domain.client import Client
from booking.settings import BookingSettings
from counseling_shared import audit, audit_batch
from counseling_shared.busauth import DIRECTORY_CLIENTS
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime

DIRECTORY_SUBJECT = "booking.directory.contact"
DEFAULT_QUEUE = "booking-directory"

log = get_logger(__name__)
ANSWERS = Counter("booking_directory_answers", "Client directory answers.", ["outcome"])


def contact_of(client: Client) -> dict[str, Any]:
    return {
        "client_id": str(client.id),
        "email": client.email,
        "phone": client.phone,
        "locale": client.locale,
        "timezone": client.timezone,
        "preferred_channel": client.preferred_channel.value,
        "site_id": str(client.site_id),
    }


def requested_client(raw: bytes) -> UUID | None:
    """The client id asked for, or None for a malformed request."""
    try:
        request = json.loads(raw)
        return UUID(str(request["client_id"])) if isinstance(request, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


async def answer(pool: asyncpg.Pool[Any], raw: bytes) -> dict[str, Any]:
    client_id = requested_client(raw)
    if client_id is None:
        return {"error": "bad_request"}
    try:
        async with pool.acquire() as conn:
            found = await projections.load_client(conn, client_id)
    except DATABASE_ERRORS as exc:
        log.warning("directory_unavailable", client_id=str(client_id), error=type(exc).__name__)
        return {"error": "unavailable"}
    return contact_of(found) if found else {"error": "not_found"}


_STATUS = {"found": 200, "not_found": 404}


def asker_of(reply_subject: str | None) -> str:
    """The service an answer goes to. On the authenticated bus each service receives replies
    only on its own inbox prefix (`_INBOX.<service>.`, the server enforces it), so whoever the
    reply subject names is who reads the answer. Anything else is `unknown`."""
    parts = (reply_subject or "").split(".")
    if len(parts) > 2 and parts[0] == "_INBOX" and parts[1] in DIRECTORY_CLIENTS:
        return parts[1]
    return "unknown"


def request_id_of(msg: Msg) -> str:
    """The asker's trace id (W3C `traceparent`), so the entry joins the asker's trace."""
    parts = (msg.headers or {}).get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else uuid4().hex


def directory_entry(msg: Msg, client_id: UUID, site: str | None, status: int) -> audit.AuditEntry:
    """The audit entry of one client's answer (found: 200, unknown: 404), to the asking service."""
    return audit.AuditEntry(
        actor=audit.Actor("service", asker_of(msg.reply)),
        action="directory_contact",
        resource="clients",
        resource_id=str(client_id),
        site_id=UUID(site) if site else None,
        client_id=client_id,
        request_id=request_id_of(msg),
        status=status,
    )


async def audited(pool: asyncpg.Pool[Any], msg: Msg, reply: dict[str, Any]) -> dict[str, Any]:
    """The reply once its audit entry is written; `unavailable` instead of a client's details
    when the entry cannot be written (the asker asks again later)."""
    outcome = str(reply.get("error", "found"))
    client_id = requested_client(msg.data)
    if client_id is None or outcome not in _STATUS:
        return reply  # nothing was read: a malformed request, or the database is out of reach
    entry = directory_entry(msg, client_id, reply.get("site_id"), _STATUS[outcome])
    try:
        await audit_batch.record(pool, entry)
    except Exception:  # say loudly that the trail has a gap, and disclose nothing
        log.exception("audit_write_failed", client_id=str(client_id), action=entry.action)
        return {"error": "unavailable"}
    return reply


def directory_queue(runtime: Runtime) -> str:
    settings = runtime.settings
    return settings.directory_queue if isinstance(settings, BookingSettings) else DEFAULT_QUEUE


async def serve_directory(runtime: Runtime) -> None:
    """`on_start` hook: subscribe the responder in the replicas' shared queue group."""
    pool = runtime.db()
    queue = directory_queue(runtime)

    async def respond(msg: Msg) -> None:
        reply = await audited(pool, msg, await answer(pool, msg.data))
        ANSWERS.labels(reply.get("error", "found")).inc()
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    await runtime.nats().subscribe(DIRECTORY_SUBJECT, queue=queue, cb=respond)
    log.info("directory_serving", subject=DIRECTORY_SUBJECT, queue=queue)
