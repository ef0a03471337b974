"""The client directory: core NATS request-reply on `booking.directory.contact`.

notify asks for a client's address when it sends (contract: client contact details live only
in booking). Request `{"client_id": "<uuid>"}`; reply `{"client_id", "email", "phone",
"locale", "timezone", "preferred_channel", "site_id"}`, or `{"error": "not_found"}`,
`{"error": "bad_request"}`, `{"error": "unavailable"}` (database trouble: ask again later).
Replicas share the subject through one queue group. Nothing here is logged but ids.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
from nats.aio.msg import Msg
from prometheus_client import Counter

from booking.adapters import projections
from booking.domain.client import Client
from booking.settings import BookingSettings
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


async def serve_directory(runtime: Runtime) -> None:
    """`on_start` hook: subscribe the responder in the replicas' shared queue group."""
    pool = runtime.db()
    settings = runtime.settings
    queue = settings.directory_queue if isinstance(settings, BookingSettings) else DEFAULT_QUEUE

    async def respond(msg: Msg) -> None:
        reply = await answer(pool, msg.data)
        ANSWERS.labels(reply.get("error", "found")).inc()
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    await runtime.nats().subscribe(DIRECTORY_SUBJECT, queue=queue, cb=respond)
    log.info("directory_serving", subject=DIRECTORY_SUBJECT, queue=queue)
