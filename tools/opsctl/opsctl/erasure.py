"""`counselctl clients erase`: a client's data erased on request in every service's database.

Each service offers its part as an entry point in the group `counseling.erase_client`, named
after the service:

    [project.entry-points."counseling.erase_client"]
    booking = "booking.application.erasure:erase_client"

The function is `async (conn, client_id) -> Mapping[str, int]` (rows changed per table) and
runs in its own transaction; it raises `ValueError` to refuse (nothing changed). booking keeps
a tombstone; the others drop what they hold, and every service deletes its dead letters naming
the client (`counseling_shared.erasure`). Each service's audit trail then records the erasure
(or the refusal) with the operator as its actor. Last, `sweep_dlq` deletes the copies of those
dead letters on the `DLQ` stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID, uuid4

import asyncpg
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from counseling_shared import audit
from counseling_shared.erasure import names_client
from counseling_shared.jetstream import DLQ_STREAM
from opsctl.config import Service
from opsctl.operator import operator_name

if TYPE_CHECKING:
    from counseling_shared.db import Connection

ERASE_GROUP = "counseling.erase_client"

# crisis first: it refuses a client in an active crisis before anything else is touched.
# booking last: its tombstone is what the others' ids point at.
ORDER = (Service.CRISIS, Service.FOLLOWUP, Service.NOTIFY, Service.BOOKING)

_BATCH = 500  # DLQ messages read per request while sweeping

EraseHook = Callable[["Connection", UUID], Awaitable[Mapping[str, int]]]


async def record(
    conn: asyncpg.Connection[Any], client_id: UUID, request_id: str, *, status: int
) -> None:
    """The erasure's entry in the service's audit trail: who ran it (the operator's login
    name), on which client, with what outcome (200 erased, 409 refused)."""
    await audit.record(
        conn,
        audit.AuditEntry(
            actor=audit.Actor("operator", operator_name()),
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


@dataclass
class Sweep:
    """How far the sweep of the DLQ stream went: filled in as it goes, so a sweep cut short (NATS
    lost halfway) still says what it removed."""

    scanned: int = 0
    removed: int = 0
    complete: bool = False


async def sweep_dlq(js: JetStreamContext, client_id: UUID, sweep: Sweep) -> None:
    """Delete every message of the DLQ stream naming the client (dead-letter copies and pending
    redrives alike), by sequence; the server overwrites a deleted message's data.

    It reads the stream through an ephemeral consumer of its own, in batches (a request per
    message, `get_msg`, took 4 to 6 times longer), which it deletes when done."""
    try:
        if (await js.stream_info(DLQ_STREAM)).state.messages == 0:
            sweep.complete = True
            return
    except nats.js.errors.NotFoundError:
        sweep.complete = True  # no DLQ stream, nothing on it
        return
    name = f"erase-{uuid4().hex}"
    await js.add_consumer(
        DLQ_STREAM,
        ConsumerConfig(
            name=name,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            mem_storage=True,
            inactive_threshold=60.0,  # gone by itself should we die before deleting it
        ),
    )
    reader = await js.pull_subscribe_bind(name, stream=DLQ_STREAM)
    try:
        while not await _swept_batch(js, reader, client_id, sweep):
            pass
    finally:
        with contextlib.suppress(nats.errors.Error):
            await reader.unsubscribe()
        with contextlib.suppress(nats.errors.Error):
            await js.delete_consumer(DLQ_STREAM, name)
    sweep.complete = True


async def _swept_batch(
    js: JetStreamContext, reader: JetStreamContext.PullSubscription, client_id: UUID, sweep: Sweep
) -> bool:
    """Sweep the next batch; True once the whole stream has been read."""
    try:
        batch = await reader.fetch(_BATCH, timeout=2.0)
    except nats.errors.TimeoutError:
        # Nothing came: done only if the server has nothing left for us (not merely slow).
        return (await reader.consumer_info()).num_pending == 0
    for msg in batch:
        sweep.scanned += 1
        if names_client(client_id, msg.subject, msg.headers, msg.data):
            try:
                await js.delete_msg(DLQ_STREAM, msg.metadata.sequence.stream)
                sweep.removed += 1
            except nats.js.errors.NotFoundError:
                pass  # aged out or deleted by someone else meanwhile
    return batch[-1].metadata.num_pending == 0
