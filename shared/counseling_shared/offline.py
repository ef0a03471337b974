"""One-off commands of a service's entry point (`python -m <service> rebuild-projections`)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

import asyncpg
from asyncpg.connection import Connection
from pydantic import ValidationError

from counseling_shared.db import connect
from counseling_shared.http.auth import InvalidApiKeys, check_keys_allowed, parse_api_keys
from counseling_shared.links import InvalidLinkKey, check_link_key_allowed
from counseling_shared.service import ServiceDefinition, StartupFailed, run_service
from counseling_shared.settings import ServiceSettings, unreadable_files


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


def settings_problems(name: str, exc: ValidationError) -> str:
    """What is wrong with a service's settings, one line each, naming the variable.

    pydantic's own message ends each error with the input (`input_value={...}`): for a
    settings class that is the environment, so a start-up error showed the head and tail of
    whatever variables came first and last, secrets among them (an auth token's first
    characters, most of a malformed `SMS_WEBHOOK_AUTH`), inside a 20-line traceback.
    """
    lines = [f"{name}: the settings are invalid (nothing was started):"]
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


def invalid_settings(name: str, problems: Sequence[str]) -> str:
    """The same head as `settings_problems`, for what is found wrong after parsing."""
    return "\n".join(
        [f"{name}: the settings are invalid (nothing was started):"]
        + [f"  {problem}" for problem in problems]
    )


def refused_settings(settings: ServiceSettings) -> list[str]:
    """Every reason the service would refuse to serve on these settings, one line each, so one
    start names them all (an unreadable `*_FILE`, the link key, API_KEYS) rather than one per
    attempt. The same checks run again where the service starts."""
    problems = unreadable_files(settings)
    current, *previous = settings.link_keys
    try:
        check_link_key_allowed(
            current, development_mode=settings.development_mode, previous_keys=previous
        )
    except InvalidLinkKey as exc:
        problems.append(str(exc))
    try:
        check_keys_allowed(
            parse_api_keys(settings.api_keys), development_mode=settings.development_mode
        )
    except InvalidApiKeys as exc:
        problems.append(str(exc))
    return problems


def serve(name: str, service: ServiceDefinition) -> None:
    """Serve `service`; what stops it from starting for good is one line and exit 1, not a
    traceback: an unreadable `*_FILE`, a refused LINK_SIGNING_KEY or API_KEYS, a migration
    that fails. (A database or NATS that does not answer yet is waited for: /readyz says 503.)
    """
    if problems := unreadable_files(service.settings):
        sys.exit(invalid_settings(name, problems))
    try:
        run_service(service)
    except (InvalidLinkKey, InvalidApiKeys) as exc:
        sys.exit(invalid_settings(name, [str(exc)]))
    except StartupFailed as exc:
        sys.exit(f"{name}: could not start: {exc}")


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
            try:
                problems = refused_settings(settings())
            except ValidationError as exc:
                sys.exit(settings_problems(name, exc))
            if problems:
                sys.exit(invalid_settings(name, problems))
            try:
                service = definition()  # reads the settings
            except ValidationError as exc:
                sys.exit(settings_problems(name, exc))
            except InvalidLinkKey as exc:
                sys.exit(invalid_settings(name, [str(exc)]))
            serve(name, service)
        case ["rebuild-projections"]:
            try:
                given = settings()
            except ValidationError as exc:
                sys.exit(settings_problems(name, exc))
            run_database_command(rebuild_projections(given), "rebuild-projections")
        case _:
            sys.exit(f"usage: python -m {name} [rebuild-projections]")
