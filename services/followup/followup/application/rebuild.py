"""Rebuild followup's projections from its event store (DESIGN §2: an operator command).

Every table of followup's migrations is derived from followup's own event store, so every one is
replaced: `sites` (streams `site-<id>`: followup records what booking says about a site as its own
`SiteRecorded` before projecting it), `followup_policies` (`policy-<id>`), `clients` and
`followup_preferences` (`client-<id>`, likewise recorded as followup's own events) and
`followups` (`followup-<id>`), `contact_regularity` (`regularity-<client id>`: the gap timer
is armed again at the same `due_at`). The backbone's tables (inbox, outbox, dead letters,
idempotency keys) are not projections and are left alone.

Each stream is replayed one recorded transaction at a time through the writers the write path
uses (`PostgresFollowupStore`), stamped with the time that transaction recorded its events: the
`updated_at` columns are the writing transaction's `now()`, which is the events' `recorded_at`,
and a client's preferences row keeps the time its preferences last changed.

Timers are follow-up rows: a follow-up's `status` and `due_at` come from its own events, so every
follow-up still `scheduled` is scheduled again with the same `due_at` (none is lost), and the
schedulers are woken when the rebuild commits. One column is in no event and is carried over by
id: `trace_headers`, the trace of the flow that planned the follow-up (its FollowUpDue continues
that trace).

Writers wait meanwhile (a SHARE lock on `events`). Old rows are deleted rather than truncated so
readers (the API, the gauges) keep seeing them until the rebuild commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.eventstore import RecordedEvent, read_stream
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.domain import client_care, followup, regularity, site
from followup.domain.policy import DEFAULT_POLICY

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Children before the rows they reference.
_TABLES = (
    "followup_preferences",
    "clients",
    "followups",
    "followup_policies",
    "sites",
    "contact_regularity",
)


@dataclass(frozen=True)
class _Kind:
    """How one kind of stream is folded and projected. States are the aggregates' own."""

    start: Callable[[UUID], Any]
    evolve: Callable[[Any, RecordedEvent], Any]
    save: Callable[[PostgresFollowupStore, UUID, Any, datetime], Awaitable[None]]


def _evolve_site(state: Any, recorded: RecordedEvent) -> Any:
    event = site.from_record(recorded.type, recorded.data)
    assert isinstance(event, site.SiteRecorded)
    return event, recorded.version


async def _save_site(store: PostgresFollowupStore, site_id: UUID, state: Any, at: datetime) -> None:
    recorded, version = state
    await store.save_site(site_id, recorded.timezone, recorded.locale, version, at=at)


def _evolve_policy(state: Any, recorded: RecordedEvent) -> Any:
    event = site.from_record(recorded.type, recorded.data)
    assert isinstance(event, site.PolicySet)
    return event.policy, recorded.version


async def _save_policy(
    store: PostgresFollowupStore, site_id: UUID, state: Any, at: datetime
) -> None:
    policy, version = state
    await store.save_policy(site_id, policy, version, at=at)


def _evolve_client(state: Any, recorded: RecordedEvent) -> Any:
    return client_care.evolve(state, client_care.from_record(recorded.type, recorded.data))


async def _save_client(store: PostgresFollowupStore, _: UUID, state: Any, at: datetime) -> None:
    await store.save_client(state, at=at)


def _evolve_followup(state: Any, recorded: RecordedEvent) -> Any:
    return followup.evolve(state, followup.from_record(recorded.type, recorded.data))


async def _save_followup(store: PostgresFollowupStore, _: UUID, state: Any, at: datetime) -> None:
    await store.save_followup(state)


def _evolve_regularity(state: Any, recorded: RecordedEvent) -> Any:
    return regularity.evolve(state, regularity.from_record(recorded.type, recorded.data))


async def _save_regularity(store: PostgresFollowupStore, _: UUID, state: Any, at: datetime) -> None:
    await store.save_regularity(state)


# Stream kind (the stream id's prefix) → how to fold and project it.
_KINDS: dict[str, _Kind] = {
    "site": _Kind(lambda _: None, _evolve_site, _save_site),
    "policy": _Kind(lambda _: (DEFAULT_POLICY, 0), _evolve_policy, _save_policy),
    "client": _Kind(client_care.new_client, _evolve_client, _save_client),
    "followup": _Kind(lambda _: None, _evolve_followup, _save_followup),
    "regularity": _Kind(regularity.new, _evolve_regularity, _save_regularity),
}


async def rebuild_projections(
    conn: Connection, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Replace every projection row by the fold of its stream; return rows per kind.

    `progress(done, total)` is called after each stream (`counselctl rebuild` draws a bar).
    """
    counts = dict.fromkeys(_KINDS, 0)
    store = PostgresFollowupStore(conn)
    async with conn.transaction():
        await conn.execute("LOCK TABLE events IN SHARE MODE")
        await conn.execute(
            """CREATE TEMPORARY TABLE kept_followup_traces ON COMMIT DROP AS
               SELECT id, trace_headers FROM followups"""
        )
        for table in _TABLES:
            await conn.execute(f"DELETE FROM {table}")
        streams = [
            r["stream_id"]
            for r in await conn.fetch("SELECT DISTINCT stream_id FROM events ORDER BY stream_id")
        ]
        ours = [(kind, UUID(rest)) for kind, rest in map(_split, streams) if kind in _KINDS]
        for kind, aggregate_id in ours:
            spec = _KINDS[kind]
            state = spec.start(aggregate_id)
            for at, batch in _transactions(await read_stream(conn, f"{kind}-{aggregate_id}")):
                for recorded in batch:
                    state = spec.evolve(state, recorded)
                await spec.save(store, aggregate_id, state, at)
            counts[kind] += 1
            if progress is not None:
                progress(sum(counts.values()), len(ours))
        # Every row, so none keeps the rebuild's own trace from the replay's inserts.
        await conn.execute(
            """UPDATE followups f SET trace_headers = k.trace_headers
               FROM followups r LEFT JOIN kept_followup_traces k ON k.id = r.id
               WHERE r.id = f.id"""
        )
    return counts


def _split(stream_id: str) -> tuple[str, str]:
    kind, _, rest = stream_id.partition("-")
    return kind, rest


def _transactions(
    records: list[RecordedEvent],
) -> Iterator[tuple[datetime, list[RecordedEvent]]]:
    """A stream's events grouped by the transaction that recorded them, with its time.

    The write path projects once per transaction at that transaction's `now()`; replaying the
    same groups reproduces rows whose timestamps depend on when they last changed.
    """
    for _, group in groupby(records, key=lambda r: r.txid):
        batch = list(group)
        yield batch[-1].recorded_at, batch
