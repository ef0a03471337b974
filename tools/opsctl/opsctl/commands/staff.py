"""`counselctl staff reannounce`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Annotated, cast
from uuid import UUID, uuid4

import typer

from counseling_shared import audit
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    database,
    fail,
    run,
)
from opsctl.config import Service
from opsctl.console import print_json, stdout
from opsctl.operator import operator_name

if TYPE_CHECKING:
    from counseling_shared.db import Connection

app = typer.Typer(help="booking's staff.", no_args_is_help=True)

REANNOUNCE_GROUP = "counseling.reannounce_staff"
Reannounce = Callable[["Connection", UUID | None], Awaitable[int]]


def _hook() -> Reannounce:
    for entry in entry_points(group=REANNOUNCE_GROUP):
        if entry.name == Service.BOOKING.value:
            return cast(Reannounce, entry.load())
    fail(f"booking offers no {REANNOUNCE_GROUP} entry point")


@app.command()
def reannounce(
    site: Annotated[
        UUID | None, typer.Option("--site", help="Only this site's staff (default: every site).")
    ] = None,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make booking publish `StaffRegistered` again, unchanged, for every active staff member
    (one `StaffMemberAnnouncedAgain` event each in booking's store; booking's outbox relay
    sends them). After a `LINK_SIGNING_KEY` rotation crisis then digests every staff phone
    with the new key: watch `crisis_staff_phone_digests{key="current"}` reach the total
    before dropping the old key (docs/security.md). The audit trail records the run."""
    hook = _hook()

    async def work() -> int:
        async with database(Service.BOOKING, database_url, database_schema) as conn:
            count = await hook(conn, site)
            await audit.record(
                conn,
                audit.AuditEntry(
                    actor=audit.Actor("operator", operator_name()),
                    action="reannounce_staff",
                    resource="staff",
                    resource_id=None,
                    site_id=site,
                    client_id=None,
                    request_id=uuid4().hex,
                    status=200,
                ),
            )
            return count

    count = run(work())
    if as_json:
        print_json({"site_id": str(site) if site else None, "reannounced": count})
        return
    where = f"site {site}" if site else "every site"
    stdout().print(f"StaffRegistered queued again for {count} active staff member(s) of {where}")
