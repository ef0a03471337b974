"""Where counselctl finds the services' databases and NATS: the services' own settings.

A service reads `DATABASE_URL`; `make run` gives each one the same server with the database
named after the service. counselctl serves all four at once, so it reads, in order:
`--database-url`, `<SERVICE>_DATABASE_URL`, then `DATABASE_URL` with its database name replaced
by the service's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from counseling_shared.bus import BusCredentials
from counseling_shared.busauth import OPERATOR
from counseling_shared.settings import ServiceSettings


class Service(StrEnum):
    BOOKING = "booking"
    FOLLOWUP = "followup"
    NOTIFY = "notify"
    CRISIS = "crisis"


# The services' defaults, not the environment's values (read below, per service).
_DEFAULT_DATABASE_URL: str = ServiceSettings.model_fields["database_url"].default
_DEFAULT_NATS_URL: str = ServiceSettings.model_fields["nats_url"].default


@dataclass(frozen=True)
class Database:
    """One service's database: its URL and, when services share a database, its schema."""

    url: str
    schema: str | None = None


def with_database(url: str, database: str) -> str:
    """The same server URL, pointing at another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def database_for(
    service: Service,
    explicit_url: str | None = None,
    explicit_schema: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Database:
    env = os.environ if env is None else env
    prefix = service.value.upper()
    url = explicit_url or env.get(f"{prefix}_DATABASE_URL")
    if not url:
        url = with_database(env.get("DATABASE_URL") or _DEFAULT_DATABASE_URL, service.value)
    schema = (
        explicit_schema
        or env.get(f"{prefix}_DATABASE_SCHEMA")
        or env.get("DATABASE_SCHEMA")
        or None
    )
    return Database(url, schema)


def nats_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return explicit or env.get("NATS_URL") or _DEFAULT_NATS_URL


def operator_credentials(
    seed_file: Path | None = None, env: Mapping[str, str] | None = None
) -> BusCredentials:
    """counselctl's own bus user: `--nkey-seed-file`, else `$NATS_NKEY_SEED_FILE`, else
    `$NATS_NKEY_SEED`; none of them: an unauthenticated connection (a development bus)."""
    env = os.environ if env is None else env
    path = seed_file or (
        Path(env["NATS_NKEY_SEED_FILE"]) if env.get("NATS_NKEY_SEED_FILE") else None
    )
    ca = Path(env["NATS_TLS_CA_FILE"]) if env.get("NATS_TLS_CA_FILE") else None
    return BusCredentials(
        user=OPERATOR, seed=env.get("NATS_NKEY_SEED") or None, seed_file=path, tls_ca_file=ca
    )
