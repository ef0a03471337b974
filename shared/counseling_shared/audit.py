"""Who did what: the actor of the request being served, and the append-only `audit` table.

An HTTP request opens an `AuditContext` (the audit middleware does). Authentication names the
actor; site checks note the site; whoever writes an event reads the actor from here, so events
record who caused them without every command passing it along.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

ActorKind = Literal["key", "staff", "link", "service", "operator", "call"]
"""`service`: another service over the bus (a read of booking's client directory);
`operator`: a person at `counselctl` (a client's erasure), by their login name; `call`: a key
pressed during a page's phone call, by Twilio's call id (acting for the staff member called)."""


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str

    def as_extension(self) -> str:
        """The CloudEvents `actor` extension attribute: `<kind>:<id>`."""
        return f"{self.kind}:{self.id}"


@dataclass
class AuditContext:
    request_id: str
    actor: Actor | None = None
    on_behalf_of: UUID | None = None  # an admin acting for this staff member
    site_id: UUID | None = None
    client_id: UUID | None = None
    sees_free_text: bool = True  # False for callers that may not read free text about clients
    # A change: its entry, from what the committing transaction is about (the middleware sets
    # it; `None` from it: nothing to record, e.g. no actor). `committed`: written and committed.
    entry_for_commit: Callable[[Mapping[str, Any]], AuditEntry | None] | None = None
    committed: AuditEntry | None = None
    answer_status: int | None = None  # noted by a route that decides its status itself
    # What the change did beyond its route's ordinary action (an admin's override, say):
    # appended to the entry's `action` as `<route>:<note>`.
    action_note: str | None = None

    def actor_metadata(self) -> dict[str, Any] | None:
        if self.actor is None:
            return None
        meta: dict[str, Any] = {"kind": self.actor.kind, "id": self.actor.id}
        if self.on_behalf_of is not None:
            meta["on_behalf_of"] = str(self.on_behalf_of)
        return meta


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


@contextmanager
def audit_context(request_id: str) -> Iterator[AuditContext]:
    context = AuditContext(request_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current() -> AuditContext | None:
    return _current.get()


def note_actor(actor: Actor, *, sees_free_text: bool = True) -> None:
    if (context := _current.get()) is not None:
        context.actor = actor
        context.sees_free_text = sees_free_text


INVALID_LINK = Actor("link", "invalid")
"""The actor of a request carrying an altered signed link, or a genuine one for another
resource: whoever holds it is not known, and the token itself is never recorded."""


def note_invalid_link() -> None:
    """Audit the request as made with a link that is not valid (403), as `link:invalid`."""
    note_actor(INVALID_LINK, sees_free_text=False)


def note_site(site_id: UUID) -> None:
    """The first site a request is checked against is the site it is about."""
    if (context := _current.get()) is not None and context.site_id is None:
        context.site_id = site_id


def note_client(client_id: UUID) -> None:
    if (context := _current.get()) is not None and context.client_id is None:
        context.client_id = client_id


def act_for(staff_id: UUID) -> None:
    """Record that the (admin) caller acts for this staff member."""
    if (context := _current.get()) is not None:
        context.on_behalf_of = staff_id


def note_answer(status: int) -> None:
    """The status a route answers, decided by the route itself (a page built inside its unit
    of work, a 409 page after a second tap): the entry committed with the change records it."""
    if (context := _current.get()) is not None:
        context.answer_status = status


def note_action(note: str) -> None:
    """The change did something its route does not do ordinarily (an admin booking on a
    closed day): its audit entry's action says so (`book_appointment:allow_closed_site`)."""
    if (context := _current.get()) is not None:
        context.action_note = note


def actor_metadata() -> dict[str, Any] | None:
    """The current actor for an event's metadata, or None outside a request."""
    context = _current.get()
    return context.actor_metadata() if context else None


class AuditUnavailable(Exception):
    """A change's audit entry could not be written: the change was rolled back with it. The
    HTTP layer answers it as a 503 (`counseling_shared.http.problems`)."""


@dataclass(frozen=True)
class AuditEntry:
    actor: Actor
    action: str
    resource: str
    resource_id: str | None
    site_id: UUID | None
    client_id: UUID | None
    request_id: str
    status: int
    on_behalf_of: UUID | None = None


def change_unrecorded() -> bool:
    """Serving a change whose entry no transaction has committed yet."""
    context = _current.get()
    return (
        context is not None and context.entry_for_commit is not None and context.committed is None
    )


def entry_to_commit(about: Mapping[str, Any]) -> AuditEntry | None:
    """The entry a transaction committing the current request's change writes with it, or
    None (not serving a change, not authenticated, or its entry already committed). `about`
    stands in for the answer, which does not exist yet: `id`, `site_id`, `client_id`, ..."""
    context = _current.get()
    if context is None or context.entry_for_commit is None or context.committed is not None:
        return None
    return context.entry_for_commit(about)


def committed(entry: AuditEntry | None) -> None:
    """After commit: `entry` is in the trail; the request's later transactions and the
    middleware write no other."""
    if entry is not None and (context := _current.get()) is not None:
        context.committed = entry


_COLUMNS = (
    "actor_kind, actor_id, on_behalf_of, action, resource, resource_id, site_id, client_id,"
    " request_id, status"
)
_TYPES = ("text", "text", "uuid", "text", "text", "text", "uuid", "uuid", "text", "int")


def insert_rows(first: int) -> str:
    """The entries' insert, their ten columns' arrays numbered from `$first` (`row_columns`)."""
    arrays = ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(_TYPES))
    return f"INSERT INTO audit ({_COLUMNS}) SELECT * FROM unnest({arrays})"


def row_columns(entries: Sequence[AuditEntry]) -> list[list[Any]]:
    """The values of `insert_rows`: one array per column."""
    return [
        [e.actor.kind for e in entries],
        [e.actor.id for e in entries],
        [e.on_behalf_of for e in entries],
        [e.action for e in entries],
        [e.resource for e in entries],
        [e.resource_id for e in entries],
        [e.site_id for e in entries],
        [e.client_id for e in entries],
        [e.request_id for e in entries],
        [e.status for e in entries],
    ]


async def record(conn: asyncpg.Pool[Any] | asyncpg.Connection[Any], entry: AuditEntry) -> None:
    await record_many(conn, [entry])


async def record_many(
    conn: asyncpg.Pool[Any] | asyncpg.Connection[Any], entries: Sequence[AuditEntry]
) -> None:
    """All of `entries` in one statement, in their order."""
    await conn.execute(insert_rows(1), *row_columns(entries))


@dataclass(frozen=True)
class AuditQuery:
    site_id: UUID | None = None
    client_id: UUID | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int = 0
    limit: int = 50
    site_ids: Sequence[UUID] | None = field(default=None)  # the caller's sites (None: every)


async def find(conn: asyncpg.Pool[Any] | asyncpg.Connection[Any], q: AuditQuery) -> list[Any]:
    """Entries oldest first, after `after_id`; one more than `limit` tells there is more."""
    rows: list[Any] = await conn.fetch(
        """SELECT * FROM audit
           WHERE id > $1
             AND ($2::uuid IS NULL OR site_id = $2)
             AND ($3::uuid IS NULL OR client_id = $3)
             AND ($4::text IS NULL OR actor_id = $4 OR on_behalf_of::text = $4)
             AND ($5::timestamptz IS NULL OR at >= $5)
             AND ($6::timestamptz IS NULL OR at < $6)
             AND ($7::uuid[] IS NULL OR site_id = ANY($7))
           ORDER BY id LIMIT $8""",
        q.after_id,
        q.site_id,
        q.client_id,
        q.actor_id,
        q.since,
        q.until,
        list(q.site_ids) if q.site_ids is not None else None,
        q.limit + 1,
    )
    return rows
