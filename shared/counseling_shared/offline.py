"""One-off commands of a service's entry point (`python -m <service> rebuild-projections`)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

import asyncpg
from asyncpg.connection import Connection

from counseling_shared.db import connect
from counseling_shared.service import ServiceDefinition, run_service
from counseling_shared.settings import ServiceSettings


def run_database_command(work: Coroutine[Any, Any, None], command: str) -> None:
    """Run `work`; a database that cannot be reached or refuses is one line and exit 1.

    An operator who ran it without the service's settings got a 50-line asyncpg traceback
    ending in "Connect call failed ('127.0.0.1', 5432)". The URL is not printed: it may hold
    a password.
    """
    try:
        asyncio.run(work)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        sys.exit(
            f"{command}: the database failed: {exc!r} "
            "(the service's MIGRATION_DATABASE_URL, else DATABASE_URL, names it)"
        )


class _Rebuild(Protocol):
    def __call__(self, conn: Connection) -> Awaitable[dict[str, int]]: ...


def service_main(
    name: str,
    definition: Callable[[], ServiceDefinition],
    settings: Callable[[], ServiceSettings],
    rebuild: _Rebuild,
    argv: Sequence[str] | None = None,
) -> None:
    """`python -m <name>`: serve the service; `python -m <name> rebuild-projections`: refold its
    projection tables from its event store, as its owner role (the runtime role may not lock
    `events`), and print the counts as one JSON line."""

    async def rebuild_projections(given: ServiceSettings) -> None:
        conn = await connect(given.migration_dsn, schema=given.database_schema)
        try:
            counts = await rebuild(conn)
        finally:
            await conn.close()
        print(json.dumps({"rebuilt": counts}))

    match list(sys.argv[1:] if argv is None else argv):
        case []:
            run_service(definition())
        case ["rebuild-projections"]:
            run_database_command(rebuild_projections(settings()), "rebuild-projections")
        case _:
            sys.exit(f"usage: python -m {name} [rebuild-projections]")
