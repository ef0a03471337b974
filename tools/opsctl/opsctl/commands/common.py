"""Options every command shares, and running async work with readable failures."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats.errors
import nats.js.errors
import typer
from nats.js import JetStreamContext
from rich.markup import escape

from counseling_shared.bus import connect_bus
from counseling_shared.db import connect
from counseling_shared.migrations import role_of
from opsctl.config import (
    Service,
    database_for,
    missing_stack_hint,
    nats_url,
    operator_credentials,
    stale_stack_hint,
)
from opsctl.console import end_progress, stderr

T = TypeVar("T")

# The server a command is connecting to, named in "cannot reach the server" (a timeout's own
# message names nothing); cleared once connected. Passwords left out.
_reaching: list[str] = []


def _reach(what: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.password is not None:
        url = urlunsplit(
            parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
        )
    _reaching[:] = [f"{what} at {url}"]


ServiceOption = Annotated[
    Service, typer.Option("--service", "-s", help="The service whose database to use.")
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Default: `$<SERVICE>_DATABASE_URL`, else `$DATABASE_URL` with the service's "
        "name as database name.",
        show_default=False,
    ),
]
OwnerDatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The role owning the service's tables. Default: "
        "`$<SERVICE>_MIGRATION_DATABASE_URL`, else `$<SERVICE>_DATABASE_URL`, else "
        "`$MIGRATION_DATABASE_URL` or `$DATABASE_URL` with the service's name as database name.",
        show_default=False,
    ),
]
DatabaseSchemaOption = Annotated[
    str | None,
    typer.Option(
        "--database-schema",
        help="When services share a database. Default: `$<SERVICE>_DATABASE_SCHEMA`, "
        "else `$DATABASE_SCHEMA`.",
        show_default=False,
    ),
]
NatsUrlOption = Annotated[
    str | None,
    typer.Option("--nats-url", help="Default: `$NATS_URL`.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> NoReturn:
    end_progress()  # the error goes below the bar, never onto its line
    stderr().print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run async work; a server that cannot be reached or a query that fails exits 1."""
    try:
        return asyncio.run(work)
    except nats.js.errors.APIError as exc:
        # JetStream answered, and refused (replicas > 1 on a single server, a limit): its
        # reason, not "cannot reach the server" (an APIError's repr is empty).
        fail(f"NATS refused: {exc.description or exc} (JetStream error {exc.err_code})")
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        hint = missing_stack_hint(os.environ) or stale_stack_hint(os.environ)
        server = f" ({_reaching[0]})" if _reaching else ""
        fail(f"cannot reach the server{server}: {exc!r}" + (f"\n{hint}" if hint else ""))
    except asyncpg.PostgresError as exc:
        fail(f"database: {exc} (is this the right service's database?)")


@asynccontextmanager
async def database(
    service: Service, url: str | None, schema: str | None
) -> AsyncIterator[asyncpg.Connection[Any]]:
    db = database_for(service, url, schema)
    _reach(f"{service.value}'s database", db.url)
    conn = await connect(db.url, schema=db.schema)
    _reaching.clear()  # reached: a later failure is not this server's
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def owner_database(
    service: Service, url: str | None, schema: str | None, doing: str
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """The service's database as the role that owns its tables (`database_for(owner=True)`).
    The runtime role may not lock or rewrite `events`: say which variable names the owner,
    rather than "permission denied" alone. `doing` says what was being done, for the error."""
    db = database_for(service, url, schema, owner=True)
    _reach(f"{service.value}'s database", db.url)
    conn = await connect(db.url, schema=db.schema)
    _reaching.clear()  # reached: a later failure is not this server's
    try:
        yield conn
    except asyncpg.InsufficientPrivilegeError as exc:
        prefix, role = service.value.upper(), role_of(db.url) or "(the default)"
        fail(
            f"{doing}: the database role {role} may not ({escape(str(exc))}). "
            f"It needs the role that owns {service.value}'s tables (the service's "
            f"MIGRATION_DATABASE_URL): set MIGRATION_DATABASE_URL or "
            f"{prefix}_MIGRATION_DATABASE_URL to its URL, or pass --database-url where offered."
        )
    finally:
        await conn.close()


async def _quiet(exc: Exception) -> None:
    """nats-py logs connection errors itself; `run` reports the one that matters."""


@asynccontextmanager
async def jetstream(url: str | None) -> AsyncIterator[JetStreamContext]:
    where = nats_url(url)
    _reach("NATS", where)
    try:
        nc = await connect_bus(
            where,
            operator_credentials(),
            connect_timeout=5,
            # nats-py retries the first connection too: twice, then give up.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.5,
            allow_reconnect=False,
            error_cb=_quiet,
        )
    except nats.errors.NoServersError:
        raise OSError(f"no NATS server answers at {where}") from None
    _reaching.clear()
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()
