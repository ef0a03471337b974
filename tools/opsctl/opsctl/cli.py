"""counselctl: every command in one place (docs/operator-cli.md shows each with an example)."""

import typer

from opsctl import help_types
from opsctl.commands import (
    bus,
    clients,
    dead_letters,
    demo,
    docs,
    followups,
    reports,
    security,
    staff,
    streams,
    tables,
)
from opsctl.commands.rebuild import rebuild

help_types.install()
app = typer.Typer(
    name="counselctl",
    help="Operate the counseling-center suite: streams, dead letters, projections, reports, "
    "demo data and the published API documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(streams.app, name="streams")
app.add_typer(bus.app, name="bus")
app.command()(rebuild)
app.command()(tables.tables)
app.add_typer(tables.outbox, name="outbox")
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(reports.followups, name="followups")
reports.followups.command("backfill-appointments")(followups.backfill_appointments)
app.command("contact-gaps")(reports.contact_gaps)
app.add_typer(reports.alerts, name="alerts")
app.add_typer(clients.app, name="clients")
app.add_typer(staff.app, name="staff")
app.add_typer(demo.app, name="demo")
app.add_typer(docs.app, name="docs")
app.add_typer(security.keys, name="keys")
app.command()(security.audit)
