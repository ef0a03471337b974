"""`Idempotency-Key` records, written in the command's own transaction.

While an HTTP request carrying a key is served, its `Claim` sits in a context variable. The
first unit of work the request opens takes a transaction-scoped advisory lock on the key: a
second request with the same key while the first one's transaction is open gets a 409 (the lock
dies with the transaction, so a crashed request never leaves a key stuck, and nothing is ever
"taken over"). Under the lock, a key already recorded means the command already ran: the
request is answered as a replay instead. At commit the record is written in the same
transaction as the command's effects, so there is never an effect without its record nor a
record without its effect.

A record holds no client data: the request's hash, the status, the resource id and where the
resource can be read. A replay reads the resource as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from counseling_shared.http.problems import Problem

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class Record:
    request_hash: str
    status_code: int
    resource_id: str | None
    location: str | None


@dataclass
class Claim:
    """One request's key. `scope` is the ASGI scope, filled in by routing as the app runs."""

    principal: str
    key: str
    request_hash: str
    ttl: timedelta
    scope: Mapping[str, Any]
    recorded: bool = False  # its unit of work committed the record
    found: Record | None = None  # already recorded: the request is answered as a replay


class KeyInUse(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "request-in-progress",
            "Request in progress",
            "A request with this Idempotency-Key is still being processed.",
        )


class AlreadyDone(Problem):
    """Found under the lock: the middleware answers with a replay instead."""

    def __init__(self) -> None:
        super().__init__(409, "request-done", "Request done", "Replayed.")


_claim: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


@contextmanager
def claiming(claim: Claim) -> Iterator[Claim]:
    token = _claim.set(claim)
    try:
        yield claim
    finally:
        _claim.reset(token)


async def find(
    conn: asyncpg.Pool[Any] | Connection, principal: str, key: str, ttl: timedelta
) -> Record | None:
    """The key's record, unless it has expired."""
    row = await conn.fetchrow(
        """SELECT request_hash, status_code, resource_id, location FROM idempotency_keys
           WHERE principal = $1 AND key = $2 AND created_at > now() - $3::interval""",
        principal,
        key,
        ttl,
    )
    return Record(**dict(row)) if row else None


def _pending() -> Claim | None:
    claim = _claim.get()
    return claim if claim is not None and not claim.recorded else None


async def begin(conn: Connection) -> None:
    """At the start of a unit of work: hold the key for this transaction, or refuse."""
    if (claim := _pending()) is None:
        return
    held = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
        f"idempotency/{claim.principal}/{claim.key}",
    )
    if not held:
        raise KeyInUse()
    if (record := await find(conn, claim.principal, claim.key, claim.ttl)) is not None:
        claim.found = record
        raise AlreadyDone()


async def record(conn: Connection, first_subject: str | None) -> None:
    """Before commit: the key's record, in the command's transaction."""
    if (claim := _pending()) is None:
        return
    scope = claim.scope
    route = scope.get("route")
    template = str(getattr(route, "path", scope["path"]))
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    resource_id = str(list(params.values())[-1]) if params else first_subject
    await conn.execute(
        """INSERT INTO idempotency_keys
               (principal, key, method, path, request_hash, status_code, resource_id, location)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (principal, key) DO UPDATE SET
               method = EXCLUDED.method, path = EXCLUDED.path,
               request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
               resource_id = EXCLUDED.resource_id, location = EXCLUDED.location,
               created_at = now()""",  # a conflict here is an expired record: `begin` saw none
        claim.principal,
        claim.key,
        scope["method"],
        scope["path"],
        claim.request_hash,
        getattr(route, "status_code", None) or 200,
        resource_id,
        location_of(scope["path"], template, resource_id),
    )


def committed() -> None:
    """After commit: later units of work of the same request are not the keyed command."""
    if (claim := _pending()) is not None:
        claim.recorded = True


def location_of(path: str, template: str, resource_id: str | None) -> str | None:
    """Where the command's resource is read: the path up to its last parameter
    (`/alerts/{id}/ack` -> `/alerts/{id}`), or the collection's item (`/staff` -> `/staff/{id}`)."""
    parts, shape = path.rstrip("/").split("/"), template.rstrip("/").split("/")
    last_param = max((i for i, part in enumerate(shape) if part.startswith("{")), default=None)
    if last_param is not None:
        return "/".join(parts[: last_param + 1])
    return f"{path.rstrip('/')}/{resource_id}" if resource_id else None
