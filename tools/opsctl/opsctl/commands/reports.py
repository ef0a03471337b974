"""`counselctl followups overdue`, `counselctl contact-gaps` and `counselctl alerts open`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

import typer

from opsctl import reports
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    database,
    run,
)
from opsctl.config import Service
from opsctl.console import print_json, stdout, table
from opsctl.reports import ContactGap, OpenAlert, OverdueFollowUp

followups = typer.Typer(
    help="Reports on followup's database, and its appointments' backfill.", no_args_is_help=True
)
alerts = typer.Typer(help="Reports on crisis's database.", no_args_is_help=True)

SiteOption = Annotated[UUID | None, typer.Option("--site", help="Only this site.")]
LimitOption = Annotated[int, typer.Option(help="At most this many, oldest first.")]


@followups.command()
def overdue(
    site: SiteOption = None,
    limit: LimitOption = 1000,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow-ups still `scheduled` after their due time: followup's timer has not fired them."""

    async def work() -> list[OverdueFollowUp]:
        async with database(Service.FOLLOWUP, database_url, database_schema) as conn:
            return await reports.overdue_followups(conn, site, limit)

    found = run(work())
    if as_json:
        print_json([asdict(f) for f in found])
        return
    stdout().print(
        table(
            f"Overdue follow-ups ({len(found)})",
            ["id", "site", "client", "kind", "due at", "overdue by"],
            ([f.id, f.site_id, f.client_id, f.kind, f.due_at, f.overdue_by] for f in found),
        )
    )


def contact_gaps(
    site: SiteOption = None,
    limit: LimitOption = 1000,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Clients in care past the site's max_contact_gap without a positive contact, or in a
    cool-off after a negative one (outreach to them is held), from followup's database."""

    async def work() -> list[ContactGap]:
        async with database(Service.FOLLOWUP, database_url, database_schema) as conn:
            return await reports.contact_gaps(conn, site, limit)

    found = run(work())
    if as_json:
        print_json([asdict(g) for g in found])
        return
    stdout().print(
        table(
            f"Contact gaps ({len(found)})",
            [
                "client",
                "site",
                "counselor",
                "last positive contact",
                "past gap since",
                "cool-off until",
            ],
            (
                [
                    g.client_id,
                    g.site_id,
                    g.counselor_id,
                    g.last_positive_contact_at,
                    g.past_gap_since,
                    g.cooloff_until,
                ]
                for g in found
            ),
        )
    )


@alerts.command("open")
def open_(
    site: SiteOption = None,
    limit: LimitOption = 1000,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Alerts nobody has acknowledged yet, with how far their escalation went."""

    async def work() -> list[OpenAlert]:
        async with database(Service.CRISIS, database_url, database_schema) as conn:
            return await reports.open_alerts(conn, site, limit)

    found = run(work())
    if as_json:
        print_json([asdict(a) for a in found])
        return
    stdout().print(
        table(
            f"Open alerts ({len(found)})",
            [
                "id",
                "site",
                "client",
                "risk",
                "level",
                "pass",
                "pages",
                "open for",
                "next escalation",
                "exhausted",
            ],
            (
                [
                    a.id,
                    a.site_id,
                    a.client_id,
                    a.level,
                    a.current_level,
                    a.cycle + 1,
                    a.pages,
                    a.open_for,
                    a.escalation_due_at,
                    "yes" if a.exhausted else "",
                ]
                for a in found
            ),
        )
    )
