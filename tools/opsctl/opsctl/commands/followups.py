"""`counselctl followups backfill-appointments`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, cast
from uuid import uuid4

from nats.js import JetStreamContext

from counseling_shared import audit
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    NatsUrlOption,
    database,
    fail,
    jetstream,
    run,
)
from opsctl.config import Service
from opsctl.console import print_json, stdout, table
from opsctl.operator import operator_name

if TYPE_CHECKING:
    from counseling_shared.db import Connection

BACKFILL_GROUP = "counseling.backfill_appointments"
Backfill = Callable[["Connection", JetStreamContext], Awaitable[Mapping[str, int]]]


def _hook() -> Backfill:
    for entry in entry_points(group=BACKFILL_GROUP):
        if entry.name == Service.FOLLOWUP.value:
            return cast(Backfill, entry.load())
    fail(f"followup offers no {BACKFILL_GROUP} entry point")


def backfill_appointments(
    nats_url: NatsUrlOption = None,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record in followup the appointments booked before it kept them (its `appointments`,
    migration 0007), from booking's events still in the BOOKING stream, so that pausing and
    resuming a client's follow-ups plans their reminders again. Run once after upgrading;
    running it again records nothing new. followup's audit trail records the run."""
    hook = _hook()

    async def work() -> dict[str, int]:
        async with (
            jetstream(nats_url) as js,
            database(Service.FOLLOWUP, database_url, database_schema) as conn,
        ):
            counts = dict(await hook(conn, js))
            await audit.record(
                conn,
                audit.AuditEntry(
                    actor=audit.Actor("operator", operator_name()),
                    action="backfill_appointments",
                    resource="appointments",
                    resource_id=None,
                    site_id=None,
                    client_id=None,
                    request_id=uuid4().hex,
                    status=200,
                ),
            )
            return counts

    counts = run(work())
    if as_json:
        print_json(counts)
        return
    stdout().print(
        table("Appointments backfilled from booking's stream", ["", "count"], counts.items())
    )
