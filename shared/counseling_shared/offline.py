"""One-off commands of a service's entry point (`python -m <service> rebuild-projections`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

import asyncpg


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
