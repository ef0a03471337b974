"""Which site booking says a client belongs to, over `booking.directory.contact` (request-reply).

crisis asks only when a posted flag names a client it has not heard of: booking is the
authority on its clients, and crisis may simply be behind its `ClientRegistered` events (after
an outage, or while a stream elects a leader). Contact details in the answer are dropped here.
"""

from __future__ import annotations

import json
from enum import Enum
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
