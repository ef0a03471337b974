"""The client directory for several clients at once: `booking.directory.contacts`.

An extension of `booking.directory.contact` (which stays as it is): notify's bulk lane claims
several messages at a time and asks for all their clients in one request instead of one each.
Request `{"client_ids": ["<uuid>", ...]}` (1 to `MOST_CLIENTS`, repeats allowed); reply
`{"contacts": [...]}` with one entry per id asked, in the order asked: the one-client answer
(`client_id`, `email`, `phone`, `locale`, `timezone`, `preferred_channel`, `site_id`) or
`{"client_id", "error": "not_found"}`. Or, for the whole request, `{"error": "bad_request"}`
or `{"error": "unavailable"}` (database trouble, or an audit entry not written).

Every entry is one delivery's answer and one audit entry, exactly as if each had been asked
alone (a repeated id is two entries): the trail does not change with the batching.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import asyncpg
from nats.aio.msg import Msg

from booking.adapters import projections
from booking.domain.client import Client
from booking.entrypoints.directory import (
    ANSWERS,
    contact_of,
    directory_entry,
    directory_queue,
)
from counseling_shared import audit, audit_batch
from counseling_shared.busauth import DIRECTORY_BATCH_SUBJECT
from counseling_shared.db import DATABASE_ERRORS
from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime

MOST_CLIENTS = 100

log = get_logger(__name__)


def requested_clients(raw: bytes) -> list[UUID] | None:
    """The client ids asked for, in order, or None for a malformed request."""
    try:
        request = json.loads(raw)
        asked = request["client_ids"] if isinstance(request, dict) else None
        if not isinstance(asked, list) or not 0 < len(asked) <= MOST_CLIENTS:
            return None
        if not all(isinstance(c, str) for c in asked):
            return None
        return [UUID(c) for c in asked]
    except (ValueError, KeyError, TypeError):
        return None


async def load_clients(pool: asyncpg.Pool[Any], ids: list[UUID]) -> dict[UUID, Client]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM clients WHERE id = ANY($1::uuid[])", ids)
    return {row["id"]: projections.client_from(row) for row in rows}


async def answer_many(pool: asyncpg.Pool[Any], msg: Msg) -> dict[str, Any]:
    """The reply to one batched request, once every entry's audit entry is written."""
    asked = requested_clients(msg.data)
    if asked is None:
        return {"error": "bad_request"}
    try:
        found = await load_clients(pool, sorted(set(asked)))
    except DATABASE_ERRORS as exc:
        log.warning("directory_unavailable", clients=len(asked), error=type(exc).__name__)
        return {"error": "unavailable"}
    contacts = [
        contact_of(found[c]) if c in found else {"client_id": str(c), "error": "not_found"}
        for c in asked
    ]
    entries = [_entry(msg, c, contact) for c, contact in zip(asked, contacts, strict=True)]
    # One audit entry per answer; written together (`audit_batch` gathers them in one insert).
    results = await asyncio.gather(
        *(audit_batch.record(pool, e) for e in entries), return_exceptions=True
    )
    if any(isinstance(r, BaseException) for r in results):
        log.error("audit_write_failed", clients=len(asked), action="directory_contact")
        return {"error": "unavailable"}  # contact details never leave without their entry
    return {"contacts": contacts}


def _entry(msg: Msg, client_id: UUID, contact: dict[str, Any]) -> audit.AuditEntry:
    status = 404 if "error" in contact else 200
    return directory_entry(msg, client_id, contact.get("site_id"), status)


async def respond_many(pool: asyncpg.Pool[Any], msg: Msg) -> None:
    reply = await answer_many(pool, msg)
    for contact in reply.get("contacts", [reply]):
        ANSWERS.labels(contact.get("error", "found")).inc()
    if msg.reply:
        await msg.respond(json.dumps(reply).encode())


async def serve_directory_batch(runtime: Runtime) -> None:
    """`on_start` hook: the batched responder, in the same queue group as the one-client one."""
    pool = runtime.db()
    queue = directory_queue(runtime)

    async def respond(msg: Msg) -> None:
        await respond_many(pool, msg)

    await runtime.nats().subscribe(DIRECTORY_BATCH_SUBJECT, queue=queue, cb=respond)
    log.info("directory_serving", subject=DIRECTORY_BATCH_SUBJECT, queue=queue)
