"""Rebuild followup's projections from its event store (an operator command; docs/backbone.md).

Every projection derived from followup's own event store is replaced: `sites` (streams
`site-<id>`: followup records what booking says about a site as its own `SiteRecorded` before
projecting it), `followup_policies` (`policy-<id>`), `clients` and
`followup_preferences` (`client-<id>`, likewise recorded as followup's own events) and
`followups` (`followup-<id>`), `contact_regularity` (`regularity-<client id>`: the gap timer
is armed again at the same `due_at`), `deactivated_staff` (`staff-<id>`: booking's
StaffDeactivated recorded as followup's own `StaffDeactivationRecorded`), `appointments`
(`appointment-<id>`: booking's appointment events recorded as followup's own). Left alone: the
backbone's tables (inbox, outbox, dead letters, idempotency keys), and `checkin_responses` and
`measures`, written with a client's answer: its event holds the outcome and risk, not the item
answers, so the store cannot rebuild them.

Each stream is replayed through the rows the write path writes (`PostgresFollowupStore`):
sites, policies and deactivated staff one recorded transaction at a time, stamped with the time
that transaction recorded its events (the `updated_at` columns are the writing transaction's
`now()`, which is the events' `recorded_at`); follow-ups, regularity rows and clients once,
from the stream's final state (their rows hold every column a later event changes), a
client's preferences row stamped with the time of the last transaction that changed them (the
write path's upsert keeps the row's time while they stay the same).

Timers are follow-up rows: a follow-up's `status` and `due_at` come from its own events, so every
follow-up still `scheduled` is scheduled again with the same `due_at` (none is lost), and the
schedulers are woken when the rebuild commits. One column is in no event and is carried over by
id: `trace_headers`, the trace of the flow that planned the follow-up (its FollowUpDue continues
that trace). It is read before the rows are deleted and written by each follow-up's insert
(none when none was kept, never the rebuild's own trace): an UPDATE of every row afterwards
cost a second row version of each, about a sixth of a rebuild.

Writers wait meanwhile (a SHARE lock on `events`). Old rows are deleted rather than truncated so
readers (the API, the gauges) keep seeing them until the rebuild commits.

The store writes into `RecordedWrites`: every `flush_every` aggregates each statement runs once
as an `executemany`, and the once-per-aggregate saves (plain inserts into the emptied tables)
as one binary COPY per table. That regrouping gives the same rows as one statement after the
other: every save writes rows keyed by its own aggregate, reading nothing; the replays of one
aggregate run in their order within each statement; the old rows' deletes are the first
batch's first statements; a client's `clients` row is written before its
`followup_preferences` row (first seen first); no kind's rows reference another kind's, so a
batch may span two kinds. The schedulers are woken once per channel, at the end, instead of
once per timer written.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared.batched_writes import Batches
from counseling_shared.db import REBUILD_COMMIT, JsonText, binary_jsonb
from counseling_shared.eventstore import RecordedEvent, read_streams
from counseling_shared.gc_paused import gc_paused
from counseling_shared.scheduler import notify_timer_added
from counseling_shared.stored_ids import parse_uuid
from followup.adapters import staff_store
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.domain import appointments, client_care, followup, regularity, site, staff
from followup.domain.policy import DEFAULT_POLICY
from followup.domain.preferences import FollowUpPreferences

if TYPE_CHECKING:
    from counseling_shared.db import Connection

FLUSH_EVERY = 500  # aggregates a batch

# Children before the rows they reference.
_TABLES = (
    "followup_preferences",
    "clients",
    "followups",
    "followup_policies",
    "sites",
    "contact_regularity",
    "deactivated_staff",
    "appointments",
)


# How one kind of stream is folded and projected: one stream's events, in version order, into
# the store's saves. States are the aggregates' own.
Replay = Callable[[PostgresFollowupStore, UUID, list[RecordedEvent]], Awaitable[None]]
Save = Callable[[PostgresFollowupStore, UUID, Any, datetime], Awaitable[None]]


def _per_transaction(
    start: Callable[[UUID], Any], evolve: Callable[[Any, RecordedEvent], Any], save: Save
) -> Replay:
    """Saved after each recorded transaction, at its time (its rows keep when they last
    changed)."""

    async def replay(
        store: PostgresFollowupStore, aggregate_id: UUID, records: list[RecordedEvent]
    ) -> None:
        state = start(aggregate_id)
        for at, batch in _transactions(records):
            for recorded in batch:
                state = evolve(state, recorded)
            await save(store, aggregate_id, state, at)

    return replay


def _final_state(
    start: Callable[[UUID], Any], evolve: Callable[[Any, RecordedEvent], Any], save: Save
) -> Replay:
    """Saved once, the final state: its row holds every column a later event can change, so
    it is the one the saves after each transaction would leave."""

    async def replay(
        store: PostgresFollowupStore, aggregate_id: UUID, records: list[RecordedEvent]
    ) -> None:
        state = start(aggregate_id)
        for recorded in records:
            state = evolve(state, recorded)
        await save(store, aggregate_id, state, records[-1].recorded_at)

    return replay


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


async def _replay_client(
    store: PostgresFollowupStore, client_id: UUID, records: list[RecordedEvent]
) -> None:
    """Saved once, from the final state (the `clients` upsert sets every column), with the
    time of the last transaction that changed the preferences: each transaction's save would
    have stamped the preferences row only when they differed from the row's (its first, when
    it inserted the row), so the row is the one those saves would leave."""
    state = client_care.new_client(client_id)
    preferences: FollowUpPreferences | None = None
    preferences_at: datetime | None = None
    for at, batch in _transactions(records):
        for recorded in batch:
            state = client_care.evolve(state, client_care.from_record(recorded.type, recorded.data))
        if preferences_at is None or state.preferences != preferences:
            preferences, preferences_at = state.preferences, at
    assert preferences_at is not None, f"client {client_id} has no events"
    await store.save_replayed_client(state, preferences_at=preferences_at)


def _evolve_followup(state: Any, recorded: RecordedEvent) -> Any:
    return followup.evolve(state, followup.from_record(recorded.type, recorded.data))


def _save_followup(
    store: PostgresFollowupStore, _: UUID, state: Any, at: datetime
) -> Awaitable[None]:
    # The store's coroutine itself: no frame of its own per aggregate.
    return store.save_replayed_followup(state)


def _evolve_regularity(state: Any, recorded: RecordedEvent) -> Any:
    return regularity.evolve(state, regularity.from_record(recorded.type, recorded.data))


def _save_regularity(
    store: PostgresFollowupStore, _: UUID, state: Any, at: datetime
) -> Awaitable[None]:
    # The store's coroutine itself: no frame of its own per aggregate.
    return store.save_replayed_regularity(state)


def _evolve_staff(state: Any, recorded: RecordedEvent) -> Any:
    return staff.from_record(recorded.type, recorded.data), recorded.version


async def _save_staff(
    store: PostgresFollowupStore, staff_id: UUID, state: Any, at: datetime
) -> None:
    deactivation, version = state
    await staff_store.save_deactivation(store.conn, staff_id, deactivation, version)


async def _replay_appointment(
    store: PostgresFollowupStore, appointment_id: UUID, records: list[RecordedEvent]
) -> None:
    """Saved once, from the final state (the upsert sets every column)."""
    state: appointments.Appointment | None = None
    for recorded in records:
        event = appointments.from_record(recorded.type, recorded.data)
        state = appointments.evolve(state, appointment_id, event)
    assert state is not None
    await store.save_appointment(state)


# Stream kind (the stream id's prefix) → how to fold and project it.
_KINDS: dict[str, Replay] = {
    "site": _per_transaction(lambda _: None, _evolve_site, _save_site),
    "policy": _per_transaction(lambda _: (DEFAULT_POLICY, 0), _evolve_policy, _save_policy),
    "client": _replay_client,
    "followup": _final_state(lambda _: None, _evolve_followup, _save_followup),
    "regularity": _final_state(regularity.new, _evolve_regularity, _save_regularity),
    "staff": _per_transaction(lambda _: None, _evolve_staff, _save_staff),
    "appointment": _replay_appointment,
}


async def rebuild_projections(
    conn: Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    flush_every: int = FLUSH_EVERY,
) -> dict[str, int]:
    """Replace every projection row by the fold of its stream; return rows per kind.

    `progress(done, total)` is called after each batch of streams is written (`counselctl
    rebuild` draws a bar); at most `flush_every` folded aggregates wait in memory.
    """
    counts = dict.fromkeys(_KINDS, 0)
    # No cyclic collection while it runs (`gc_paused`: one costs up to 40 ms here).
    async with gc_paused(), conn.transaction():
        # One round trip (a simple query). The commit does not wait for its WAL to reach the
        # disk: see `counseling_shared.db.REBUILD_COMMIT`. Each kind's events are read in
        # stream order along the (stream_id, version) index, rather than all sorted before
        # the first row comes (a sort spilled to disk: 24 ms before the follow-ups' first
        # fetch, with this process idle), by planning as for a database in memory (ours is).
        await conn.execute(
            f"{REBUILD_COMMIT}; SET LOCAL random_page_cost = 1.1; LOCK TABLE events IN SHARE MODE"
        )
        # Written with each follow-up's insert (not by an UPDATE of every row afterwards), as
        # the JSON text read (not decoded and encoded again).
        kept = await conn.fetch(
            "SELECT id, trace_headers::text FROM followups WHERE trace_headers IS NOT NULL"
        )
        kept_traces = {r["id"]: JsonText(r["trace_headers"]) for r in kept}
        found = await _kinds_in_store(conn)
        total = sum(streams for streams, _ in found.values())
        async with (
            binary_jsonb(conn),  # follow-ups' trace headers (and policies' measures), copied
            Batches(conn, every=flush_every, total=total, progress=progress) as batches,
        ):
            # The old rows are deleted by the first batch, while the next aggregates are
            # folded (a batch runs its statements in the order first seen).
            for table in _TABLES:
                await batches.into.execute(f"DELETE FROM {table}")
            # One wake per channel; each follow-up's kept trace in its insert.
            store = PostgresFollowupStore(batches.into, wake_apart=True, kept_traces=kept_traces)
            # Kind by kind, each kind's events read by one query. No kind's rows reference
            # another kind's: a batch may hold the end of one kind and the start of the next.
            for kind, replay in _KINDS.items():
                if kind not in found:
                    continue
                streams, events = found[kind]
                prefetch = max(1, math.ceil(1.1 * flush_every * events / max(streams, 1)))
                async for records in read_streams(
                    conn, f"{kind}-", metadata=False, gate=batches, prefetch=prefetch
                ):
                    await replay(store, parse_uuid(_split(records[0].stream_id)[1]), records)
                    counts[kind] += 1
                    await batches.saved()
        for channel in sorted(batches.writes.woken):
            await notify_timer_added(conn, channel)
    return counts


async def _kinds_in_store(conn: Connection) -> dict[str, tuple[int, int]]:
    """Streams and events of each of `_KINDS` the store holds events of (a kind's fetch size,
    the progress bar's total): one pass over the events, 3 to 4 ms for 18,000 of them, where
    fetching every stream id cost 6 to 60. A stream is counted by its first event (a kind
    whose streams all lacked it would still be read)."""
    rows = await conn.fetch(
        """SELECT split_part(stream_id, '-', 1) AS kind,
                  count(*) FILTER (WHERE version = 1) AS streams, count(*) AS events
           FROM events GROUP BY 1"""
    )
    return {r["kind"]: (r["streams"], r["events"]) for r in rows if r["kind"] in _KINDS}


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
