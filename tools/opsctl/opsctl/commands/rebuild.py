"""`counselctl rebuild`."""

from __future__ import annotations

import typer

from opsctl import rebuild as rebuilding
from opsctl.commands.common import (
    DatabaseSchemaOption,
    JsonOption,
    OwnerDatabaseUrlOption,
    ServiceOption,
    owner_database,
    run,
)
from opsctl.config import Service
from opsctl.console import print_json, progress, stderr, stdout, table

NOT_SUPPORTED = 2


def rebuild(
    service: ServiceOption,
    database_url: OwnerDatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the service's projections from its own event store (writers wait meanwhile).
    It locks `events`, which only the role owning the tables may: the service's
    `MIGRATION_DATABASE_URL` (read before `DATABASE_URL`)."""
    try:
        rebuilding.rebuild_hook(service.value)
    except rebuilding.RebuildNotSupported:
        stderr().print(f"rebuild of {service.value}: not yet supported")
        raise typer.Exit(NOT_SUPPORTED) from None
    counts = run(_rebuild(service, database_url, database_schema))
    if as_json:
        print_json({"service": service.value, "rebuilt": counts})
        return
    stdout().print(
        table(f"Rebuilt projections of {service.value}", ["kind", "rows"], counts.items())
    )


async def _rebuild(
    service: Service, database_url: str | None, database_schema: str | None
) -> dict[str, int]:
    doing = f"rebuild of {service.value}"
    async with owner_database(service, database_url, database_schema, doing) as conn:
        with progress() as bar:
            task = bar.add_task(f"rebuilding {service.value}", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return await rebuilding.rebuild(service.value, conn, progress=advance)
