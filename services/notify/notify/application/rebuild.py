"""Rebuild notify's projections from its event store (an operator command; docs/backbone.md).

Rebuilt, from notify's own streams: `notifications` and `notification_attempts`
(`notification-<id>`: every attempt is a `DeliveryAttempted` event) and `recipient_preferences`
(`recipient-<id>`). Each stream is folded with the domain's `evolve` and written by the
stores: a notification as its events left it by `notification_store.save_replayed` (its final
row and its attempts copied once, by binary COPY into the emptied tables, where the write path's
`add_many` then `save_change` would write the row twice), preferences by the write path's
`preference_store.save`.

Left untouched: `sites`, `staff_contacts` and `clients`, copies of booking's facts kept from
consumed events (notify records no event of its own for them, so its store cannot rebuild them;
booking's stream can, through the consumers), and the backbone's tables.

Pending deliveries are projections too: a pending row's `next_attempt_at` and `hold_reason` come
from its events (requested, held for quiet hours, retry scheduled, expedited), so every message
still waiting is waiting again, at the same time. Two columns of a row are not in any event and
are carried over by id: `claimed_until`, the lease of the worker delivering it right now (clearing
it would let a second worker claim the message and send it twice), and `trace_headers` (the trace
of the event that asked for it). They are read before the rows are deleted and written by each
notification's insert (an UPDATE of every row afterwards cost a second row version of each).
The lanes' workers are woken when the rebuild commits.

Writers wait meanwhile (a SHARE lock on `events`). Old rows are deleted rather than truncated so
readers (the API, the lane workers' claims) keep seeing them until the rebuild commits.

The save functions write into `RecordedWrites`: every `flush_every` aggregates (and at the end
of each kind) each statement runs once as an `executemany`, each COPY target once. That
regrouping gives the same rows as one statement after the other: the old rows' deletes are the
first batch's first statements; each stream is saved once, reading nothing; a notification's
row is seen before its attempts (which touch only that notification's rows), and a
recipient's preferences are one upsert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from counseling_shared.batched_writes import Batches
from counseling_shared.db import REBUILD_COMMIT, binary_jsonb
from counseling_shared.eventstore import StoredJson, read_streams_json
from counseling_shared.gc_paused import gc_paused
from notify.adapters import notification_store, preference_store
from notify.adapters.event_codec import from_stored_json
from notify.domain import notification, preferences
from notify.domain.codes import Lane

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Stream kind (the stream id's prefix) → the kind reported.
_KINDS = {"notification": "notification", "recipient": "recipient_preferences"}


async def rebuild_projections(
    conn: Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    flush_every: int = 2000,
) -> dict[str, int]:
    """Replace every projection row of notify's own streams by their fold; rows per kind.

    `progress(done, total)` is called after each batch of streams is written (`counselctl
    rebuild` draws a bar); at most `flush_every` folded aggregates wait in memory.
    """
    counts = dict.fromkeys(_KINDS.values(), 0)
    # No cyclic collection while it runs (`gc_paused`: one costs up to 40 ms here).
    async with gc_paused(), conn.transaction():
        # One round trip (a simple query). The commit does not wait for its WAL to reach the
        # disk (20 to 40 ms): see `counseling_shared.db.REBUILD_COMMIT`.
        await conn.execute(f"{REBUILD_COMMIT}; LOCK TABLE events IN SHARE MODE")
        # Written with each notification's row (not by an UPDATE of every row afterwards).
        found_kept = await conn.fetch(
            """SELECT id, claimed_until, trace_headers::text FROM notifications
               WHERE claimed_until IS NOT NULL OR trace_headers <> '{}'"""
        )
        kept = {r["id"]: Kept(r["claimed_until"], r["trace_headers"]) for r in found_kept}
        total = await _streams_of_kinds(conn)
        async with (
            binary_jsonb(conn),  # the notifications' params and trace headers, copied
            Batches(conn, every=flush_every, total=total, progress=progress) as batches,
        ):
            # The old rows are deleted by the first batch, while the next aggregates are
            # folded (a batch runs its statements in the order first seen).
            for table in ("notification_attempts", "notifications", "recipient_preferences"):
                await batches.into.execute(f"DELETE FROM {table}")
            # Kind by kind in stream id order, each kind's events read by one query.
            for kind in sorted(_KINDS):
                async for records in read_streams_json(
                    conn, f"{kind}-", gate=batches, prefetch=batches.fetch
                ):
                    if kind == "notification":
                        await _rebuild_notification(batches.into, records, kept)
                    else:
                        await _rebuild_preferences(batches.into, records)
                    counts[_KINDS[kind]] += 1
                    await batches.saved()
                await batches.flush()
        for lane in Lane:
            await notification_store.wake(conn, lane)
    return counts


async def _streams_of_kinds(conn: Connection) -> int:
    """The streams of `_KINDS` (the progress bar's total), counted in SQL by their first
    event rather than by fetching every stream id."""
    found = await conn.fetchval(
        "SELECT count(*) FROM events WHERE version = 1 AND split_part(stream_id, '-', 1) = ANY($1)",
        list(_KINDS),
    )
    return int(found)


class Kept(NamedTuple):
    """A notification's columns that no event holds, carried over by id."""

    claimed_until: datetime | None
    trace_headers_json: str  # the column's JSON text, written back as it was read


async def _rebuild_notification(
    conn: Connection, records: list[StoredJson], kept: Mapping[UUID, Kept]
) -> None:
    requested, *changes = [_notification_event(r) for r in records]
    state = notification.fold(notification.evolve(None, requested), changes)
    attempts = [e for e in changes if isinstance(e, notification.DeliveryAttempted)]
    claimed_until, trace_headers_json = kept.get(state.id, _NOTHING_KEPT)
    await notification_store.save_replayed(
        conn, state, attempts, claimed_until=claimed_until, trace_headers_json=trace_headers_json
    )


_NOTHING_KEPT = Kept(None, "{}")


def _notification_event(recorded: StoredJson) -> notification.NotificationEvent:
    event = from_stored_json(recorded.type, recorded.data_json)
    if isinstance(event, preferences.PreferencesSet):
        raise ValueError(f"{recorded.stream_id} holds a {recorded.type}")
    return event


async def _rebuild_preferences(conn: Connection, records: list[StoredJson]) -> None:
    state: preferences.RecipientPreferences | None = None
    for recorded in records:
        event = from_stored_json(recorded.type, recorded.data_json)
        if not isinstance(event, preferences.PreferencesSet):
            raise ValueError(f"{recorded.stream_id} holds a {recorded.type}")
        state = preferences.evolve(state, event)
    if state is not None:
        await preference_store.save(conn, state)
