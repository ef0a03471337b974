"""booking's client directory over `booking.directory.contact` (request-reply).

crisis asks it in two cases. When a posted flag names a client it has not heard of: booking is
the authority on its clients, and crisis may simply be behind its `ClientRegistered` events
(after an outage, or while a stream elects a leader); contact details in that answer are
dropped. And when on-call staff, having confirmed their PIN, ask the on-call page for the
client's contact details: these are shown once and never stored, logged or published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any
from uuid import UUID

import nats.errors
from nats.aio.client import Client as NatsClient

from counseling_shared.busauth import DIRECTORY_SUBJECT
from counseling_shared.tracing import current_trace_headers


class DirectoryAnswer(Enum):
    AT_SITE = "at_site"
    ELSEWHERE = "elsewhere"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"  # no answer, or booking could not read its database


async def client_site_answer(
    nc: NatsClient, client_id: UUID, site_id: UUID, timeout: float
) -> DirectoryAnswer:
    request = json.dumps({"client_id": str(client_id)}).encode()
    try:
        reply = await nc.request(
            DIRECTORY_SUBJECT, request, timeout=timeout, headers=current_trace_headers() or None
        )
    except (nats.errors.Error, TimeoutError, OSError):
        return DirectoryAnswer.UNAVAILABLE
    return read_answer(reply.data, client_id, site_id)


def read_answer(raw: bytes, client_id: UUID, site_id: UUID) -> DirectoryAnswer:
    try:
        answer = json.loads(raw)
    except ValueError:
        return DirectoryAnswer.UNAVAILABLE
    if not isinstance(answer, dict):
        return DirectoryAnswer.UNAVAILABLE
    if answer.get("error") == "not_found":
        return DirectoryAnswer.NOT_FOUND
    if "error" in answer or str(answer.get("client_id")) != str(client_id):
        return DirectoryAnswer.UNAVAILABLE
    if str(answer.get("site_id")) == str(site_id):
        return DirectoryAnswer.AT_SITE
    return DirectoryAnswer.ELSEWHERE


@dataclass(frozen=True)
class ClientContact:
    phone: str | None
    email: str | None
    preferred_channel: str | None


class ContactUnavailable(Exception):
    """booking did not answer, or could not find the client."""


async def client_contact(
    nc: NatsClient, client_id: UUID, site_id: UUID, timeout: float
) -> ClientContact:
    """The client's contact details, as booking has them now (for the on-call page only)."""
    request = json.dumps({"client_id": str(client_id)}).encode()
    try:
        reply = await nc.request(
            DIRECTORY_SUBJECT, request, timeout=timeout, headers=current_trace_headers() or None
        )
        answer: Any = json.loads(reply.data)
    except (nats.errors.Error, TimeoutError, OSError, ValueError):
        raise ContactUnavailable("booking's directory did not answer") from None
    if (
        not isinstance(answer, dict)
        or "error" in answer
        or str(answer.get("client_id")) != str(client_id)
        or str(answer.get("site_id")) != str(site_id)
    ):
        raise ContactUnavailable("booking's directory has no such client at this site")
    return ClientContact(
        phone=_text(answer.get("phone")),
        email=_text(answer.get("email")),
        preferred_channel=_text(answer.get("preferred_channel")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
