"""booking's client directory over NATS request-reply (`booking.directory.contact`, and
`booking.directory.contacts` for a bulk worker's several clients at once)."""

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import nats.errors
from nats.aio.client import Client as NatsClient

from counseling_shared.codes import Channel
from counseling_shared.logs import get_logger
from counseling_shared.tracing import current_trace_headers
from notify.application.ports import (
    ClientContact,
    ClientNotFound,
    ContactAnswer,
    DirectoryUnavailable,
)

DIRECTORY_SUBJECT = "booking.directory.contact"
DIRECTORY_BATCH_SUBJECT = "booking.directory.contacts"

log = get_logger(__name__)


class NatsClientDirectory:
    def __init__(self, nc: NatsClient, timeout: float = 2.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def contact(self, client_id: UUID) -> ClientContact:
        request = json.dumps({"client_id": str(client_id)}).encode()
        try:
            reply = await self._nc.request(
                DIRECTORY_SUBJECT,
                request,
                timeout=self._timeout,
                headers=current_trace_headers() or None,
            )
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            # No answer (timeout, no responders, connection down): booking may be restarting.
            raise DirectoryUnavailable(type(exc).__name__) from None
        return parse_contact(client_id, reply.data)

    async def contacts(self, client_ids: Sequence[UUID]) -> list[ContactAnswer]:
        if not client_ids:
            return []
        request = json.dumps({"client_ids": [str(c) for c in client_ids]}).encode()
        try:
            reply = await self._nc.request(
                DIRECTORY_BATCH_SUBJECT,
                request,
                timeout=self._timeout,
                headers=current_trace_headers() or None,
            )
        except nats.errors.NoRespondersError:
            # A booking from before the batched subject (a rolling upgrade): one at a time.
            return list(await asyncio.gather(*(self._answer(c) for c in client_ids)))
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from None
        return parse_contacts(client_ids, reply.data)

    async def _answer(self, client_id: UUID) -> ContactAnswer:
        try:
            return await self.contact(client_id)
        except (ClientNotFound, DirectoryUnavailable) as exc:
            return exc


def parse_contacts(client_ids: Sequence[UUID], raw: bytes) -> list[ContactAnswer]:
    """The batched answer, one entry per id asked; an entry that is not about the client asked
    for in its place is unavailable (never used), the others are used."""
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        raise DirectoryUnavailable("unreadable answer") from None
    if not isinstance(answer, dict):
        raise DirectoryUnavailable("unreadable answer")
    if "error" in answer:
        raise DirectoryUnavailable(f"directory error {str(answer['error'])[:40]}")
    entries = answer.get("contacts")
    if not isinstance(entries, list) or len(entries) != len(client_ids):
        raise DirectoryUnavailable("unreadable answer")
    return [_entry(c, e) for c, e in zip(client_ids, entries, strict=True)]


def _entry(client_id: UUID, entry: Any) -> ContactAnswer:
    if isinstance(entry, dict) and str(entry.get("client_id")) != str(client_id):
        log.warning("directory_reply_mismatch", client_id=str(client_id))
        return DirectoryUnavailable("reply names another client")
    try:
        return contact_from(client_id, entry)
    except (ClientNotFound, DirectoryUnavailable) as exc:
        return exc


def parse_contact(client_id: UUID, raw: bytes) -> ClientContact:
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        raise DirectoryUnavailable("unreadable answer") from None
    return contact_from(client_id, answer)


def contact_from(client_id: UUID, answer: Any) -> ClientContact:
    """One answer about `client_id` (decoded JSON); raises ClientNotFound or
    DirectoryUnavailable."""
    if not isinstance(answer, dict):
        raise DirectoryUnavailable("unreadable answer")
    if answer.get("error") == "not_found":
        raise ClientNotFound(str(client_id))
    if "error" in answer:
        raise DirectoryUnavailable(f"directory error {str(answer['error'])[:40]}")
    if str(answer.get("client_id")) != str(client_id):
        # Not the client we asked for: a stray or forged reply. Never used, never logged
        # beyond the id we asked for; asking again later is the remedy.
        log.warning("directory_reply_mismatch", client_id=str(client_id))
        raise DirectoryUnavailable("reply names another client")
    preferred = answer.get("preferred_channel")
    return ClientContact(
        client_id=client_id,
        email=_text(answer.get("email")),
        phone=_text(answer.get("phone")),
        locale=_text(answer.get("locale")),
        timezone=_text(answer.get("timezone")),
        preferred_channel=Channel(preferred) if preferred in set(Channel) else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
