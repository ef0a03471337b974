"""One transaction for one state change: append, project, record for publication
(docs/backbone.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import asyncpg

from counseling_shared import audit, eventstore, idempotency, outbox
from counseling_shared.clock import Clock
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import IntegrationEvent
from counseling_shared.eventstore import NewEvent, RecordedEvent
from counseling_shared.logs import get_logger

log = get_logger(__name__)

_TRAILING_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

T = TypeVar("T")

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_ABOUT = ("site_id", "client_id", "recipient_id", "recipient_kind")
"""What an audit entry takes from the change's first events besides its subject (as the
middleware would from the answer)."""


class UnitOfWork:
    """A service's write path inside one open transaction.

    `cause` is the envelope being handled, if any: events published here continue its
    correlation id and name it as their causation.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        source: str,
        clock: Clock,
        cause: Envelope | None = None,
    ) -> None:
        self.conn = conn
        self.source = source
        self.clock = clock
        self.cause = cause
        self._pending: list[Envelope] = []
        self._streams: list[str] = []  # appended to, in order (what the command created)
        self._key_written = False  # `write_with_flush` wrote the request's key record
        self._key_unchecked = False  # the key's lock and look-up are left to `first_read`
        self._told: list[Envelope] = []  # the events published so far: what the change is about
        self._stored: list[Mapping[str, Any]] = []  # the data of the events stored so far
        self._named: str | None = None  # the resource named by the command (`name_resource`)
        self.audited: audit.AuditEntry | None = None  # the request's entry, written here

    def now(self) -> datetime:
        return self.clock.now()

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[RecordedEvent]:
        self._streams.append(stream_id)
        self._stored += [event.data for event in events]
        return await eventstore.append(self.conn, stream_id, expected_version, events)

    def appended(self, stream_id: str) -> None:
        """Note a stream the caller appended to with a statement of its own (one that also
        writes its rows: `eventstore.append_statement`), as `append` does."""
        self._streams.append(stream_id)

    async def first_read(self, sql: str, *values: Any) -> asyncpg.Record:
        """The command's first statement, a one-row read (parameters from `$1`). In a unit of
        work opened with `key_in_first_read`, the request's key lock and look-up
        (`idempotency.begin`) are joined to it, one round trip instead of two: held or
        recorded, it refuses exactly as `begin` does."""
        if not self._key_unchecked:
            return await self._fetch_one(sql, *values)
        self._key_unchecked = False
        key = idempotency.lock_values()
        assert key is not None  # set only while a key is pending
        row = await self._fetch_one(
            f"""SELECT * FROM ({idempotency.lock_and_find(len(values) + 1)}) AS key_check,
                              ({sql}) AS first_read""",
            *values,
            *key,
        )
        idempotency.settle(row)
        return row

    async def check_key(self) -> None:
        """The key's lock and look-up, if still left to a first read that never came (before
        the outbox rows and the key record are written)."""
        if self._key_unchecked:
            self._key_unchecked = False
            await idempotency.begin(self.conn)

    def name_resource(self, resource_id: UUID | str, location: str | None = None) -> None:
        """The resource the command answers with, when it is not the first event's subject:
        what a replay of the request's `Idempotency-Key` reads (`idempotency.name_resource`).
        Before the command's first write of a new appointment, whose statement records the key."""
        self._named = str(resource_id)
        idempotency.name_resource(str(resource_id), location)

    def publish(self, event: IntegrationEvent, *, subject: UUID | str) -> Envelope:
        """Queue a public event; it reaches the outbox when `flush` runs (at commit)."""
        envelope = wrap(
            event,
            source=self.source,
            subject=subject,
            correlation_id=self.cause.correlationid if self.cause else None,
            causation_id=self.cause.id if self.cause else None,
            time=self.clock.now(),
            actor=actor.as_extension() if (actor := _current_actor()) else None,
        )
        self._pending.append(envelope)
        self._told.append(envelope)
        return envelope

    @contextmanager
    def caused_by(self, envelope: Envelope) -> Iterator[None]:
        """Within it, events published continue `envelope`'s correlation and name it as their
        causation: a batch handler handles many envelopes in one unit of work."""
        previous, self.cause = self.cause, envelope
        try:
            yield
        finally:
            self.cause = previous

    @property
    def published(self) -> list[Envelope]:
        return list(self._pending)

    async def flush(self, later: list[outbox.OutboxRow] | None = None) -> None:
        """Write the outbox rows (and the request's `Idempotency-Key` record, if any). With
        `later`, the rows are added to it instead, for the caller to write in the same
        transaction with other units of work's (an inbox batch writes them all at once)."""
        await self.check_key()
        pending, self._pending = self._pending, []
        first = self._first_subject(pending)
        key = None if self._key_written else idempotency.record_parameters(first)
        entry = self._entry_due()
        if later is not None or key is None or not pending:
            if not self._key_written:
                await idempotency.record(self.conn, first)
            rows = outbox.rows_of(pending)
            if later is not None:
                later.extend(rows)
                rows = []
            await self._enqueue(rows, entry)
            return
        # A keyed command with events: its record, its outbox rows (and its request's audit
        # entry) in one round trip.
        audited, audit_values = _audit_cte(entry, 8 + len(key))
        keyed = await self._carrying(
            entry,
            self.conn.fetchval(
                f"""WITH added AS ({outbox.insert_rows(1)}),
                         keyed AS ({idempotency.upsert(8)}){audited}
                    SELECT (SELECT count(*) FROM keyed), pg_notify($7, '')
                    FROM (SELECT count(*) FROM added) AS inserted""",
                *outbox.row_columns(outbox.rows_of(pending)),
                outbox.OUTBOX_CHANNEL,
                *key,
                *audit_values,
            ),
        )
        if keyed == 0:
            await idempotency.recorded_meanwhile(self.conn)

    async def _enqueue(self, rows: list[outbox.OutboxRow], entry: audit.AuditEntry | None) -> None:
        """The outbox rows and the request's audit entry, in one statement."""
        if entry is None:
            await outbox.enqueue_rows(self.conn, rows)
        elif not rows:
            await self._carrying(
                entry, self.conn.execute(audit.insert_rows(1), *audit.row_columns([entry]))
            )
        else:
            audited, audit_values = _audit_cte(entry, 8)
            await self._carrying(
                entry,
                self.conn.execute(
                    f"""WITH added AS ({outbox.insert_rows(1)}){audited}
                        SELECT pg_notify($7, '') FROM (SELECT count(*) FROM added) AS inserted""",
                    *outbox.row_columns(rows),
                    outbox.OUTBOX_CHANNEL,
                    *audit_values,
                ),
            )

    def _entry_due(self) -> audit.AuditEntry | None:
        """The audit entry of the change request being served, unless written already: what the
        change is about stands in for the answer: the resource the command named, else the
        first published event's subject, else its first stream's aggregate; the site, client or
        recipient its published events name first, else its stored ones."""
        if self.audited is not None or not audit.change_unrecorded():
            return None  # cheap: consumers and reads build nothing
        about: dict[str, Any] = {
            "id": self._named
            or (
                self._told[0].subject
                if self._told
                else _id_in(self._streams[0] if self._streams else "")
            )
        }
        told = [{"site_id": envelope.siteid, **envelope.data} for envelope in self._told]
        for name in _ABOUT:
            named = (data[name] for data in (*told, *self._stored) if data.get(name))
            if (value := next(named, None)) is not None:
                about[name] = value
        return audit.entry_to_commit(about)

    async def _carrying(self, entry: audit.AuditEntry | None, statement: Awaitable[T]) -> T:
        """Run `statement`, which writes `entry` (if any) with the command's own rows."""
        done = await _carrying(entry, statement)
        if entry is not None:
            self.audited = entry
        return done

    async def write_with_flush(
        self, ctes: str, columns: str, values: Sequence[Any]
    ) -> asyncpg.Record:
        """Run the caller's last write, given as common table expressions `ctes` and the
        `columns` its `SELECT` returns (parameters from `$1`, `values`), in one statement with
        what `flush` writes for the events published so far: the outbox rows and the request's
        key record. One round trip fewer for a command whose last write is known to come last
        (a new appointment). Anything published afterwards is still written by `flush`.

        A live record of the key found by the insert (written meanwhile by the key's previous
        holder) raises as `flush` does, before the caller looks at its own columns: the whole
        statement is rolled back with the transaction either way."""
        await self.check_key()
        pending, key = self._pending, None
        if pending and not self._key_written:  # a series books several: the first one merges
            key = idempotency.record_parameters(self._first_subject(pending))
        entry = self._entry_due()
        if key is None:  # nothing to merge but the audit entry: the outbox rows at commit
            audited, audit_values = _audit_cte(entry, len(values) + 1)
            return await self._carrying(
                entry,
                self._fetch_one(f"WITH {ctes}{audited} SELECT {columns}", *values, *audit_values),
            )
        self._pending = []
        first = len(values) + 1
        audited, audit_values = _audit_cte(entry, first + 7 + len(key))
        row = await self._carrying(
            entry,
            self._fetch_one(
                f"""WITH {ctes},
                         added AS ({outbox.insert_rows(first)}),
                         keyed AS ({idempotency.upsert(first + 7)}){audited}
                    SELECT {columns}, (SELECT count(*) FROM keyed) AS keyed,
                           pg_notify(${first + 6}, '') AS notified""",
                *values,
                *outbox.row_columns(outbox.rows_of(pending)),
                outbox.OUTBOX_CHANNEL,
                *key,
                *audit_values,
            ),
        )
        self._key_written = True
        if row["keyed"] == 0:
            await idempotency.recorded_meanwhile(self.conn)
        return row

    async def _fetch_one(self, sql: str, *values: Any) -> asyncpg.Record:
        row: asyncpg.Record | None = await self.conn.fetchrow(sql, *values)
        assert row is not None  # a SELECT without FROM: always one row
        return row

    def _first_subject(self, pending: list[Envelope]) -> str | None:
        """The resource a key record names: the first published event's subject, else the
        first stream's aggregate."""
        if pending:
            return pending[0].subject
        return _id_in(self._streams[0] if self._streams else "")


async def _carrying(entry: audit.AuditEntry | None, statement: Awaitable[T]) -> T:
    """Await `statement`, which writes `entry` (if any). When it fails, the change goes with
    its entry: `AuditUnavailable` (a refusal the database states, such as an exclusion, stays
    what it is)."""
    if entry is None:
        return await statement
    try:
        return await statement
    except asyncpg.IntegrityConstraintViolationError:
        raise
    except asyncpg.PostgresError as exc:
        log.error(
            "audit_write_failed",
            request_id=entry.request_id,
            action=entry.action,
            error=type(exc).__name__,
        )
        raise audit.AuditUnavailable() from exc


@asynccontextmanager
async def audited_transaction(conn: Connection, **about: Any) -> AsyncIterator[None]:
    """A request's write path without a unit of work: a transaction that, serving a change,
    writes the request's audit entry last (`about` stands in for the answer's fields, as the
    first event does for a unit of work)."""
    entry = None
    async with conn.transaction():
        yield
        if (entry := audit.entry_to_commit(about)) is not None:
            await _carrying(entry, conn.execute(audit.insert_rows(1), *audit.row_columns([entry])))
    audit.committed(entry)


def _audit_cte(entry: audit.AuditEntry | None, first: int) -> tuple[str, list[list[Any]]]:
    """`, audited AS (insert)` for a statement's `WITH` and its values (from `$first`), or
    nothing without an entry. PostgreSQL runs a writing `WITH` query even if nothing reads it."""
    if entry is None:
        return "", []
    return f",\n audited AS ({audit.insert_rows(first)})", audit.row_columns([entry])


def _id_in(stream_id: str) -> str | None:
    """The aggregate id a stream is named after (`room-<uuid>` -> `<uuid>`)."""
    found = _TRAILING_UUID.search(stream_id)
    return found.group(0) if found else None


def _current_actor() -> audit.Actor | None:
    context = audit.current()
    return context.actor if context else None


@asynccontextmanager
async def unit_of_work(
    pool: asyncpg.Pool[Any],
    *,
    source: str,
    clock: Clock,
    cause: Envelope | None = None,
    key_in_first_read: bool = False,
) -> AsyncIterator[UnitOfWork]:
    """Open a transaction, yield the unit of work, write its outbox rows and commit.

    Serving a request with an `Idempotency-Key`, the key is held and recorded in this same
    transaction (`counseling_shared.idempotency`). With `key_in_first_read`, the command's
    first statement is to be its `first_read`, which holds and looks up the key too (one
    round trip fewer); a command that makes none has the key held at `flush`."""
    async with pool.acquire() as conn, conn.transaction():
        uow = UnitOfWork(conn, source=source, clock=clock, cause=cause)
        if key_in_first_read and idempotency.lock_values() is not None:
            uow._key_unchecked = True
        else:
            await idempotency.begin(conn)
        yield uow
        await uow.flush()
    idempotency.committed()
    audit.committed(uow.audited)
