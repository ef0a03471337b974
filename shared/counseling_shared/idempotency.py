"""`Idempotency-Key` records, written in the command's own transaction.

While an HTTP request carrying a key is served, its `Claim` sits in a context variable. The
first unit of work the request opens takes a transaction-scoped advisory lock on the key: a
second request with the same key while the first one's transaction is open gets a 409 (the lock
dies with the transaction, so a crashed request never leaves a key stuck, and nothing is ever
"taken over"). Under the lock, a key already recorded means the command already ran: the
request is answered as a replay instead (one recorded just as the lock was granted is found
at commit, which never overwrites a live record). At commit the record is written in the same
transaction as the command's effects, so there is never an effect without its record nor a
record without its effect.

A record holds no client data: the request's hash, the status, the resource id and where the
resource can be read. A replay reads the resource as it is now, through the app as the same
caller, and answers the recorded status with that body (or the read's status when it is not a
200: the resource is gone, or no longer the caller's to see).

Where the resource is read: by default the path up to its last parameter, or, for a
collection, the item named by the first event published (`location_of`). A command whose
answer is not that read names its own (`name_resource`): another resource (a series, not its
first appointment), or a replay-only read of the answer's shape (`http.idempotency.ReplayOnly`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import asyncpg

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
    looked_up: bool = True  # the middleware looked the key up before the command ran
    resource_id: str | None = None  # named by the command (`name_resource`)
    location: str | None = None  # named by the command: where a replay reads its answer


class KeyInUse(Exception):
    """Another request holding the same key is still being served (a 409 over HTTP)."""


class AlreadyDone(Exception):
    """Found under the lock: the middleware answers with a replay instead."""


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


def answered_as_replay() -> bool:
    """The request being served turned out to repeat a recorded command."""
    claim = _claim.get()
    return claim is not None and claim.found is not None


async def look_up_if_unsettled(conn: asyncpg.Pool[Any] | Connection) -> None:
    """After a command whose key was not looked up before it ran: unless its unit of work
    recorded the key or found it under the lock, look it up now (the command was refused
    before its transaction, or did not open one). Found: the command already ran, and the
    request is answered as a replay, whatever the command said this time."""
    claim = _claim.get()
    if claim is None or claim.looked_up or claim.recorded or claim.found is not None:
        return
    claim.looked_up = True
    if (found := await find(conn, claim.principal, claim.key, claim.ttl)) is not None:
        claim.found = found
        raise AlreadyDone()


def name_resource(resource_id: str, location: str | None = None) -> None:
    """The resource the command being served answers with, and where a replay reads it
    (by default as `location_of` says: a collection's item named `resource_id`). Called
    before the command's record is written; a no-op without a pending key."""
    if (claim := _pending()) is not None:
        claim.resource_id, claim.location = resource_id, location


def _pending() -> Claim | None:
    claim = _claim.get()
    return claim if claim is not None and not claim.recorded else None


async def begin(conn: Connection) -> None:
    """At the start of a unit of work: hold the key for this transaction, or refuse.

    The lock and the look-up are one round trip. The look-up's snapshot is taken as the
    statement starts, before the lock is granted, so a record committed by a request that let
    go of the key in between is not seen here: `record` finds it at commit instead."""
    if (values := lock_values()) is None:
        return
    row = await conn.fetchrow(lock_and_find(1), *values)
    assert row is not None  # one row, whether the key is recorded or not
    settle(row)


def lock_and_find(first: int) -> str:
    """`begin`'s statement, its parameters numbered from `$first` (`lock_values`): one row,
    its columns prefixed `key_`, for a caller that joins it to a read of its own."""
    n = [f"${i}" for i in range(first, first + 4)]
    return f"""SELECT pg_try_advisory_xact_lock(hashtextextended({n[0]}, 0)) AS key_held,
                  k.request_hash AS key_request_hash, k.status_code AS key_status_code,
                  k.resource_id AS key_resource_id, k.location AS key_location
           FROM (SELECT 1) AS one
           LEFT JOIN idempotency_keys k
             ON k.principal = {n[1]} AND k.key = {n[2]}
            AND k.created_at > now() - {n[3]}::interval"""


def lock_values() -> tuple[Any, ...] | None:
    """The values of `lock_and_find` for the request being served, or None when no key is
    pending."""
    if (claim := _pending()) is None:
        return None
    return (f"idempotency/{claim.principal}/{claim.key}", claim.principal, claim.key, claim.ttl)


def settle(row: asyncpg.Record) -> None:
    """After `lock_and_find`'s row: refuse a key held by another request (409), or answer a
    recorded one as a replay."""
    claim = _claim.get()
    assert claim is not None
    if not row["key_held"]:
        raise KeyInUse()
    if row["key_request_hash"] is not None:
        claim.found = Record(
            row["key_request_hash"],
            row["key_status_code"],
            row["key_resource_id"],
            row["key_location"],
        )
        raise AlreadyDone()


def upsert(first: int) -> str:
    """The record's insert, its parameters numbered from `$first` (`record_parameters`).
    It overwrites an expired record only (a live one was written by the same key's command)
    and returns a row only when it wrote."""
    n = [f"${i}" for i in range(first, first + 9)]
    return f"""INSERT INTO idempotency_keys
               (principal, key, method, path, request_hash, status_code, resource_id, location)
           VALUES ({", ".join(n[:8])})
           ON CONFLICT (principal, key) DO UPDATE SET
               method = EXCLUDED.method, path = EXCLUDED.path,
               request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
               resource_id = EXCLUDED.resource_id, location = EXCLUDED.location,
               created_at = now()
           WHERE idempotency_keys.created_at <= now() - {n[8]}::interval
           RETURNING 1"""


def record_parameters(first_subject: str | None) -> tuple[Any, ...] | None:
    """The values of `upsert` for the request being served, or None when no key is pending."""
    if (claim := _pending()) is None:
        return None
    scope = claim.scope
    route = scope.get("route")
    template = str(getattr(route, "path", scope["path"]))
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    resource_id = claim.resource_id or (str(list(params.values())[-1]) if params else first_subject)
    location = claim.location or location_of(scope["path"], template, resource_id)
    return (
        claim.principal,
        claim.key,
        scope["method"],
        scope["path"],
        claim.request_hash,
        getattr(route, "status_code", None) or 200,
        resource_id,
        location,
        claim.ttl,
    )


async def record(conn: Connection, first_subject: str | None) -> None:
    """Before commit: the key's record, in the command's transaction."""
    if (values := record_parameters(first_subject)) is None:
        return
    if await conn.fetchval(upsert(1), *values) is None:
        await recorded_meanwhile(conn)


async def recorded_meanwhile(conn: Connection) -> NoReturn:
    """`upsert` wrote nothing: a live record, committed after `begin`'s snapshot by a request
    that held the key before us. The command already ran: ours is rolled back and answered
    as a replay."""
    claim = _claim.get()
    assert claim is not None
    claim.found = await find(conn, claim.principal, claim.key, claim.ttl)
    raise AlreadyDone()


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
