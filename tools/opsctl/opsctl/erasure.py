"""`counselctl clients erase`: a client's data erased on request in every service's database.

Each service offers its part as an entry point in the group `counseling.erase_client`, named
after the service:

    [project.entry-points."counseling.erase_client"]
    booking = "booking.application.erasure:erase_client"

The function is `async (conn, client_id) -> Mapping[str, int]` (rows changed per table) and
runs in its own transaction; it raises `ValueError` to refuse (nothing changed). booking keeps
a tombstone; the others drop what they hold. Each service's audit trail then records the
erasure (or the refusal) with the operator as its actor.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import asyncpg

from counseling_shared import audit
from opsctl.config import Service

if TYPE_CHECKING:
    from counseling_shared.db import Connection

ERASE_GROUP = "counseling.erase_client"

# crisis first: it refuses a client in an active crisis before anything else is touched.
# booking last: its tombstone is what the others' ids point at.
ORDER = (Service.CRISIS, Service.FOLLOWUP, Service.NOTIFY, Service.BOOKING)

EraseHook = Callable[["Connection", UUID], Awaitable[Mapping[str, int]]]


async def record(
    conn: asyncpg.Connection[Any], client_id: UUID, request_id: str, *, status: int
) -> None:
    """The erasure's entry in the service's audit trail: who ran it (the operator's login
    name), on which client, with what outcome (200 erased, 409 refused)."""
    await audit.record(
        conn,
        audit.AuditEntry(
            actor=audit.Actor("operator", getpass.getuser()),
            action="erase_client",
            resource="clients",
            resource_id=str(client_id),
            site_id=None,
            client_id=client_id,
            request_id=request_id,
            status=status,
        ),
    )


def erase_hook(service: Service) -> EraseHook:
    for entry in entry_points(group=ERASE_GROUP):
        if entry.name == service.value:
            return cast(EraseHook, entry.load())
    raise LookupError(f"{service.value} offers no {ERASE_GROUP} entry point")
