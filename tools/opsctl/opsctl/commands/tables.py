"""`counselctl tables` (table sizes) and `counselctl outbox dead-letters`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from opsctl import reports
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    ServiceOption,
    database,
    run,
)
from opsctl.console import print_json, stdout, table
from opsctl.reports import OutboxDeadLetter, TableSize

outbox = typer.Typer(help="The outbox of a service's database.", no_args_is_help=True)


def tables(
    service: ServiceOption,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """The service's tables, largest first: rows (PostgreSQL's estimate) and size on disk."""

    async def work() -> list[TableSize]:
        async with database(service, database_url, database_schema) as conn:
            return await reports.table_sizes(conn)

    found = run(work())
    if as_json:
        print_json([asdict(t) for t in found])
        return
    stdout().print(
        table(
            f"Tables of {service.value} ({len(found)})",
            ["table", "rows (estimate)", "size"],
            ([t.table, t.rows, _size(t.bytes)] for t in found),
        )
    )


@outbox.command("dead-letters")
def dead_letters(
    service: ServiceOption,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="Only those nobody has reviewed yet.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 1000,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Committed events the relay could never publish (`too_large`, `no_stream`)."""

    async def work() -> list[OutboxDeadLetter]:
        async with database(service, database_url, database_schema) as conn:
            return await reports.outbox_dead_letters(conn, waiting=waiting, limit=limit)

    found = run(work())
    if as_json:
        print_json([asdict(d) for d in found])
        return
    stdout().print(
        table(
            f"Outbox dead letters of {service.value} ({len(found)})",
            ["position", "event", "subject", "reason", "dead at", "reviewed at"],
            (
                [d.position, d.event_id, d.subject, d.reason, d.dead_at, d.reviewed_at or ""]
                for d in found
            ),
        )
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
