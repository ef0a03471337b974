"""asyncpg pool creation with the codecs every service needs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    # A plain connection or one borrowed from a pool: the write path accepts either.
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


@dataclass(frozen=True)
class DbTimeouts:
    """Server-side time budgets of every connection (seconds; 0 turns one off).

    A statement or a lock wait over its budget fails with an error (the handler's message is
    retried, then dead-lettered), and a transaction left idle is ended by the server, so one
    stuck lock or one forgotten transaction cannot stall a durable consumer for ever.
    """

    statement: float = 15.0
    lock: float = 5.0
    idle_in_transaction: float = 60.0

    def server_settings(self) -> dict[str, str]:
        return {
            "statement_timeout": _ms(self.statement),
            "lock_timeout": _ms(self.lock),
            "idle_in_transaction_session_timeout": _ms(self.idle_in_transaction),
        }


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def _server_settings(schema: str | None, timeouts: DbTimeouts | None) -> dict[str, str] | None:
    settings = {"search_path": f"{schema},public"} if schema else {}
    if timeouts is not None:
        settings.update(timeouts.server_settings())
    return settings or None


DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # Raised by a pooled connection whose server went away mid-operation ("cannot switch to
    # state …"): the database is gone, not a bug of ours.
    asyncpg.InternalClientError,
)
"""What a database outage (or a failing statement) raises: loops back off and try again."""


# A projection rebuild's first statement: its commit returns without waiting for the WAL to
# reach the disk (20 to 40 ms of a rebuild of 0.2 to 0.5 s, measured). A crash just after it
# loses at most the rebuild itself, never half of it (the database comes back as it was
# before, and the rebuild can be run again), and the first write committed after it flushes
# the WAL up to and including the rebuild's commit record (the WAL is written in order): no
# durable write can follow a lost rebuild. Only the rebuild's own transaction (LOCAL; a rebuild
# nested in a caller's transaction, as tests run it, leaves it off until that one ends).
REBUILD_COMMIT = "SET LOCAL synchronous_commit = off"


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await _json_as_text(conn, type_name)


async def _json_as_text(conn: Connection, type_name: str) -> None:
    """The services' codec for json and jsonb: Python values, sent and read as JSON text."""
    await conn.set_type_codec(
        type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class JsonText(str):
    """JSON text already encoded (read back from a jsonb column as text, say): `binary_jsonb`
    sends it as it is rather than as a JSON string."""

    __slots__ = ()


def _jsonb_binary(value: Any) -> bytes:
    text = value if type(value) is JsonText else json.dumps(value)
    return b"\x01" + text.encode()  # jsonb's binary format: version 1, the text


def _jsonb_from_binary(data: bytes) -> Any:
    return json.loads(data[1:])


@asynccontextmanager
async def binary_jsonb(conn: Connection) -> AsyncIterator[None]:
    """jsonb sent and read in PostgreSQL's binary format meanwhile (the same values as the
    services' text codec), as `copy_records_to_table` needs (binary COPY; MagicStack/asyncpg
    #604); the services' codec again afterwards, whatever happens."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_binary,
        decoder=_jsonb_from_binary,
        schema="pg_catalog",
        format="binary",
    )
    try:
        yield
    finally:
        await _json_as_text(conn, "jsonb")


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Returning a connection to the pool costs no round trip.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: a round trip per request. Pooled connections never hold
    session state: advisory locks are transaction-scoped (`pg_try_advisory_xact_lock`),
    settings are set with `set_config(…, true)`, and LISTEN and session locks use connections
    of their own (`connect`). asyncpg still rolls back an open transaction and drops
    listeners before calling this.
    """


async def create_pool(
    dsn: str,
    *,
    schema: str | None = None,
    min_size: int = 1,
    max_size: int = 10,
    timeouts: DbTimeouts | None = None,
) -> asyncpg.Pool[Any]:
    server_settings = _server_settings(schema, timeouts)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


async def connect(
    dsn: str, *, schema: str | None = None, timeouts: DbTimeouts | None = None
) -> asyncpg.Connection[Any]:
    """A single connection with the same codecs (LISTEN, advisory locks, tooling)."""
    server_settings = _server_settings(schema, timeouts)
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, server_settings=server_settings)
    await _init_connection(conn)
    return conn
