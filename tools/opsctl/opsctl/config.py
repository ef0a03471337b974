"""Where counselctl finds the services' databases and NATS: the services' own settings.

A service reads `DATABASE_URL`; `make run` gives each one the same server with the database
named after the service. counselctl serves all four at once, so it reads, in order:
`--database-url`, `<SERVICE>_DATABASE_URL`, then `DATABASE_URL` with its database name replaced
by the service's name (`rebuild` and `clients erase` try the `MIGRATION_DATABASE_URL` variant
of each variable first: see `database_for`), then the state file of a running `make run`
(`devstack.json` in `$DEVSTACK_VAR_DIR`, else in the source tree's `var/`, else in `./var`), then
the services' defaults. NATS likewise: `--nats-url`, `NATS_URL`, the state file, the default.
A service's HTTP API (`demo load`): `--<service>-url`, `<SERVICE>_PORT` on this machine, the
state file, the contract's port.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from counseling_shared.bus import BusCredentials
from counseling_shared.busauth import OPERATOR
from counseling_shared.settings import ServiceSettings, with_sslmode


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


STATE_FILE = "devstack.json"
# The lock a running `make run` holds on its var directory (devstack.var_lock).
LOCK_FILE = "devstack.lock"


def state_path(env: Mapping[str, str]) -> Path:
    """Where a running `make run` describes itself (see devstack.state for the format)."""
    if env.get("DEVSTACK_VAR_DIR"):
        return Path(env["DEVSTACK_VAR_DIR"]) / STATE_FILE
    root = Path(__file__).resolve().parents[3]  # the source tree (opsctl is installed editable)
    if (root / "pyproject.toml").is_file():
        return root / "var" / STATE_FILE
    return Path("var") / STATE_FILE


def devstack_state(env: Mapping[str, str]) -> dict[str, Any]:
    """The running stack's state file, or {} when there is none (or it cannot be read)."""
    try:
        found = json.loads(state_path(env).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) and found.get("format") == 1 else {}


SERVER_VARIABLES = ("NATS_URL", "DATABASE_URL", "MIGRATION_DATABASE_URL")
# What names the services' HTTP APIs instead (`demo load`).
API_VARIABLES = ("BOOKING_PORT", "FOLLOWUP_PORT", "CRISIS_PORT")


def missing_stack_hint(
    env: Mapping[str, str],
    named_by: tuple[str, ...] = SERVER_VARIABLES,
    otherwise: str = "NATS_URL and DATABASE_URL",
) -> str | None:
    """Why counselctl fell back on the default servers, when it did: none of `named_by` names a
    server and no `make run` state file is where it looked (a stack started with another
    DEVSTACK_VAR_DIR). `otherwise`: what to set instead."""
    if any(env.get(name) for name in named_by) or devstack_state(env):
        return None
    return (
        f"no running `make run` found (no state file {state_path(env)}): start it, or set "
        f"DEVSTACK_VAR_DIR to the one it runs with, or {otherwise}"
    )


def stale_stack_hint(env: Mapping[str, str]) -> str | None:
    """When the state file counselctl read was left by a `make run` that no longer runs (killed
    without its clean-up): its var directory's lock is free. None when the stack runs, or when
    there is no state file or lock to tell by."""
    state = state_path(env)
    if not devstack_state(env):
        return None
    try:
        fd = os.open(state.with_name(LOCK_FILE), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return None  # held: the stack is running
    finally:
        os.close(fd)  # closing lets go of a lock taken just now
    return (
        f"{state} was left by a `make run` that is no longer running (stopped without its "
        "clean-up): start `make run` again, or set NATS_URL and DATABASE_URL"
    )


def _state_of(env: Mapping[str, str] | None) -> dict[str, Any]:
    # Only the real environment falls back on a running stack: an explicit `env` is complete.
    return devstack_state(os.environ) if env is None else {}


def database_for(
    service: Service,
    explicit_url: str | None = None,
    explicit_schema: str | None = None,
    env: Mapping[str, str] | None = None,
    state: Mapping[str, Any] | None = None,
    *,
    owner: bool = False,
) -> Database:
    """`owner`: for commands that need the role owning the tables (`rebuild`, `clients erase`
    lock or rewrite `events`, which the runtime role may only read and append to). They prefer
    the migration role's URL (`<SERVICE>_MIGRATION_DATABASE_URL`, `MIGRATION_DATABASE_URL`,
    what a service's container has) at each level, and fall back on the runtime one."""
    state = _state_of(env) if state is None else state
    env = os.environ if env is None else env
    prefix = service.value.upper()
    kinds = ("MIGRATION_DATABASE_URL", "DATABASE_URL") if owner else ("DATABASE_URL",)
    url = explicit_url or next(
        (env[f"{prefix}_{k}"] for k in kinds if env.get(f"{prefix}_{k}")), None
    )
    shared = next((env[k] for k in kinds if env.get(k)), None)
    if not url and not shared:
        url = (state.get("databases") or {}).get(service.value)
    if not url:
        url = with_database(shared or _DEFAULT_DATABASE_URL, service.value)
    if env.get("DATABASE_SSLMODE"):  # as the services apply it (a service's container sets it)
        url = with_sslmode(url, env["DATABASE_SSLMODE"])
    schema = (
        explicit_schema
        or env.get(f"{prefix}_DATABASE_SCHEMA")
        or env.get("DATABASE_SCHEMA")
        or None
    )
    return Database(url, schema)


def nats_url(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    state: Mapping[str, Any] | None = None,
) -> str:
    state = _state_of(env) if state is None else state
    env = os.environ if env is None else env
    from_state: str | None = (state.get("nats") or {}).get("url")
    return explicit or env.get("NATS_URL") or from_state or _DEFAULT_NATS_URL


# The contract's ports, where `make run` serves each service unless `<SERVICE>_PORT` says otherwise.
# Literals, not the services' settings: devstack imports this module, and its tests stand fake
# services in for the real ones.
DEFAULT_PORTS: Mapping[Service, int] = {
    Service.BOOKING: 8001,
    Service.FOLLOWUP: 8002,
    Service.NOTIFY: 8003,
    Service.CRISIS: 8004,
}


def service_url(
    service: Service,
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
    state: Mapping[str, Any] | None = None,
) -> str:
    """Where a service's HTTP API is: a running `make run` may serve it on another port than the
    contract's (its terminal's `<SERVICE>_PORT`), which its state file names."""
    state = _state_of(env) if state is None else state
    env = os.environ if env is None else env
    port = env.get(f"{service.value.upper()}_PORT")
    if explicit:
        return explicit
    if port:
        return f"http://127.0.0.1:{port}"
    from_state: str | None = (state.get("services") or {}).get(service.value)
    return from_state or f"http://127.0.0.1:{DEFAULT_PORTS[service]}"


def operator_credentials(
    seed_file: Path | None = None, env: Mapping[str, str] | None = None
) -> BusCredentials:
    """counselctl's own bus user: `seed_file`, else `$NATS_NKEY_SEED_FILE`, else
    `$NATS_NKEY_SEED`, else the operator seed of a running `make run`; none of them: an
    unauthenticated connection (a development bus)."""
    state = _state_of(env)
    env = os.environ if env is None else env
    path = seed_file or (
        Path(env["NATS_NKEY_SEED_FILE"]) if env.get("NATS_NKEY_SEED_FILE") else None
    )
    from_state: str | None = (state.get("nats") or {}).get("credentials")
    if path is None and not env.get("NATS_NKEY_SEED") and from_state:
        path = Path(from_state)  # the operator seed of a running `make run`
    ca = Path(env["NATS_TLS_CA_FILE"]) if env.get("NATS_TLS_CA_FILE") else None
    return BusCredentials(
        user=OPERATOR, seed=env.get("NATS_NKEY_SEED") or None, seed_file=path, tls_ca_file=ca
    )
