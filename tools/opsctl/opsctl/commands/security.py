"""`counselctl keys new` (an API key and its `API_KEYS` line) and `counselctl audit`."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Annotated
from uuid import UUID

import typer

from counseling_shared import audit as audit_trail
from counseling_shared.http.auth import InvalidApiKeys, KeyRing, Role
from opsctl.commands.common import (
    DatabaseSchemaOption,
    DatabaseUrlOption,
    JsonOption,
    ServiceOption,
    database,
    fail,
    run,
)
from opsctl.console import print_json, stdout, table

keys = typer.Typer(help="API keys for the services' HTTP APIs.", no_args_is_help=True)


def key_line(secret: str, role: Role, sites: list[UUID], staff: UUID | None) -> str:
    """The `API_KEYS` entry for `secret`, holding only its SHA-256 digest."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    line = f"sha256:{digest};role={role};sites={'|'.join(str(s) for s in sites) or '*'}"
    return f"{line};staff={staff}" if staff else line


@keys.command("new")
def new(
    role: Annotated[Role, typer.Option("--role", help="admin, integration or staff.")],
    site: Annotated[
        list[UUID] | None,
        typer.Option("--site", help="A site the key acts on (repeat). Only admin may omit it."),
    ] = None,
    staff: Annotated[
        UUID | None, typer.Option("--staff", help="The staff member a staff key acts as.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print a new random key (give it to its holder) and its `API_KEYS` line (configure it
    in every service; it holds the key's digest, never the key)."""
    secret = secrets.token_urlsafe(32)
    line = key_line(secret, role, site or [], staff)
    try:
        KeyRing(line)  # exactly what the services will accept at start-up
    except InvalidApiKeys as exc:
        fail(str(exc).replace("API_KEYS entry 1: ", ""))
    if as_json:
        print_json({"key": secret, "api_keys_entry": line})
        return
    out = stdout()
    out.print(f"key: {secret}")
    out.print(f"API_KEYS entry: {line}", soft_wrap=True)


SiteOption = Annotated[UUID | None, typer.Option("--site", help="Only this site.")]


def audit(
    service: ServiceOption,
    site: SiteOption = None,
    client: Annotated[UUID | None, typer.Option("--client", help="Only this client.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="A staff id or key id (acting or acted for).")
    ] = None,
    since: Annotated[datetime | None, typer.Option("--since", help="From this time.")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="Before this time.")] = None,
    after: Annotated[int, typer.Option("--after", help="Entries after this id.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.")] = 100,
    database_url: DatabaseUrlOption = None,
    database_schema: DatabaseSchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who read or changed what, from one service's append-only audit table."""
    query = audit_trail.AuditQuery(
        site_id=site,
        client_id=client,
        actor_id=actor,
        since=since,
        until=until,
        after_id=after,
        limit=limit,
    )

    async def work() -> list[dict[str, object]]:
        async with database(service, database_url, database_schema) as conn:
            rows = await audit_trail.find(conn, query)
        return [dict(r) for r in rows[:limit]]

    found = run(work())
    if as_json:
        print_json(found)
        return
    stdout().print(
        table(
            f"Audit entries of {service} ({len(found)})",
            ["id", "at", "actor", "for", "action", "resource id", "site", "client", "status"],
            (
                [
                    e["id"],
                    e["at"],
                    f"{e['actor_kind']}:{e['actor_id']}",
                    e["on_behalf_of"] or "",
                    e["action"],
                    e["resource_id"] or "",
                    e["site_id"] or "",
                    e["client_id"] or "",
                    e["status"],
                ]
                for e in found
            ),
        )
    )
