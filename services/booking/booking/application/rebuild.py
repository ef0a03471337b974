"""Rebuild booking's projections from its event store (an operator command; docs/backbone.md).

Every stream is folded with its aggregate's `evolve`, in version order, and the final states
replace the projection rows. Writers wait meanwhile (a SHARE lock on `events`), so the rebuilt
rows match the store exactly. The tables are truncated (readers wait for the commit), so
the secondary indexes and foreign keys of the tables of kinds with many streams are dropped
meanwhile and created again, from the catalog's definitions, before the commit
(`rebuild_indexes`): each is built once instead of maintained row by row, and each key
checks every rebuilt row. The exclusion constraints stay: checking them is most of
PostgreSQL's share, and costs about the same row by row as when a constraint is added
again, but row by row it runs while this process folds the next batch, not after the fold.

The write path's save functions write the rows, into `RecordedWrites`: every
`flush_every` aggregates (and at the end of each kind, so a kind's rows exist before the next
kind's rows reference them) each statement runs once as an `executemany`. That regrouping is
safe here: each aggregate is saved once, after TRUNCATE, and every save writes only its own
rows, keyed by its id (an upsert, then its slot claim's upsert or no-op delete, or its series'
occurrences), reading nothing. Appointments, most of the rows, are saved by
`save_replayed_appointment` instead of the write path's upsert: the row and its live claim
as plain inserts, copied (binary COPY, jsonb in binary meanwhile), and no claim at all for a
cancelled one (the write path deletes it). The hold timers' scheduler is woken once, at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from booking.adapters import (
    event_codec,
    projections,
    scheduling_store,
    series_store,
    waitlist_store,
)
from booking.domain import appointment, client, room, site, staff
from booking.domain.scheduling import holds, hours, rules, series, waitlist
from counseling_shared.batched_writes import Batches
from counseling_shared.db import REBUILD_COMMIT, binary_jsonb
from counseling_shared.eventstore import read_streams_json
from counseling_shared.gc_paused import gc_paused
from counseling_shared.rebuild_indexes import indexes_built_after
from counseling_shared.scheduler import notify_timer_added

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Stream kind → (evolve, save), in the order foreign keys need.
_KINDS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Connection, Any], Any]]] = {
    "site": (site.evolve, projections.save_site),
    "staff": (staff.evolve, projections.save_staff_member),
    "room": (room.evolve, projections.save_room),
    "client": (client.evolve, projections.save_client),
    "appointment": (appointment.evolve, projections.save_replayed_appointment),
    "hours": (hours.evolve, scheduling_store.save_hours),
    "siterules": (rules.evolve, scheduling_store.save_rules),
    "hold": (holds.evolve, scheduling_store.save_hold),
    "series": (series.evolve, series_store.save_series),
    "waitlist": (waitlist.evolve_entry, waitlist_store.save_entry),
    "offer": (waitlist.evolve_offer, waitlist_store.save_offer),
}

# The tables each kind's saves write.
_TABLES_OF_KIND = {
    "site": ("sites",),
    "staff": ("staff",),
    "room": ("rooms",),
    "client": ("clients",),
    "appointment": ("appointments", "slot_claims"),
    "hours": ("working_hours",),
    "siterules": ("site_booking_rules",),
    "hold": ("holds", "slot_claims"),
    "series": ("appointment_series", "series_appointments"),
    "waitlist": ("waitlist_entries",),
    "offer": ("waitlist_offers",),
}
# Streams of a kind from which its tables' indexes and constraints are dropped meanwhile:
# dropping and adding one again costs about what keeping it costs a hundred rows.
MANY_STREAMS = 100
# Aggregates a batch (and about two fetches' worth of events): small enough that a store of a
# few thousand appointments is written in several batches, each copied (and its exclusion
# constraints checked) while the next is folded, instead of in one batch at the kind's end.
FLUSH_EVERY = 250

# Every projection table, children before the rows they reference.
_TABLES = (
    "waitlist_offers",
    "waitlist_entries",
    "series_appointments",
    "appointment_series",
    "slot_claims",
    "holds",
    "working_hours",
    "site_booking_rules",
    "appointments",
    "clients",
    "rooms",
    "staff",
    "sites",
)


async def rebuild_projections(
    conn: Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    flush_every: int = FLUSH_EVERY,
    many_streams: int = MANY_STREAMS,
) -> dict[str, int]:
    """Replace every projection row by the fold of its stream; return rows per kind.

    `progress(done, total)` is called after each batch of streams is written (`counselctl
    rebuild` draws a bar); at most `flush_every` folded aggregates wait in memory. The
    tables of a kind with `many_streams` or more are written without their secondary
    indexes and foreign keys, which are added again at the end.
    """
    counts = dict.fromkeys(_KINDS, 0)
    # No cyclic collection while it runs (`gc_paused`: one costs up to 40 ms here).
    async with gc_paused(), conn.transaction():
        # One round trip (a simple query). The commit does not wait for its WAL to reach the
        # disk (20 to 40 ms): see `counseling_shared.db.REBUILD_COMMIT`.
        await conn.execute(
            f"{REBUILD_COMMIT}; LOCK TABLE events IN SHARE MODE; TRUNCATE {', '.join(_TABLES)}"
        )
        streams = await _streams_of_kinds(conn)
        # TRUNCATE holds the tables ACCESS EXCLUSIVE already: readers wait for the commit
        # whether or not the indexes are there meanwhile, and each is built once at the end.
        many = {t for k, n in streams.items() if n >= many_streams for t in _TABLES_OF_KIND[k]}
        async with (
            indexes_built_after(conn, sorted(many), foreign_keys=True),
            binary_jsonb(conn),  # appointments' goals, copied
        ):
            await _refold(conn, streams, counts, progress, flush_every)
    return counts


async def _streams_of_kinds(conn: Connection) -> dict[str, int]:
    """How many streams of each of `_KINDS` the store holds."""
    found = await conn.fetch(
        """SELECT split_part(stream_id, '-', 1) AS kind, count(*) AS streams
           FROM (SELECT DISTINCT stream_id FROM events) AS s GROUP BY 1"""
    )
    return {r["kind"]: r["streams"] for r in found if r["kind"] in _KINDS}


async def _refold(
    conn: Connection,
    streams: dict[str, int],
    counts: dict[str, int],
    progress: Callable[[int, int], None] | None,
    flush_every: int,
) -> None:
    """Fold every stream (`streams` of each kind) and write its rows (in batches); count them
    into `counts`."""
    total = sum(streams.values())
    async with Batches(conn, every=flush_every, total=total, progress=progress) as batches:
        # In the kinds' order, each kind's events read by one query; none for a kind with no
        # stream (the SHARE lock keeps the count true).
        for kind, (evolve, save) in _KINDS.items():
            if not streams.get(kind):
                continue
            async for records in read_streams_json(
                conn, f"{kind}-", gate=batches, prefetch=batches.fetch
            ):
                state = None
                for recorded in records:
                    state = evolve(
                        state, event_codec.decode_json(recorded.type, recorded.data_json)
                    )
                await save(batches.into, state)
                counts[kind] += 1
                await batches.saved()
            await batches.flush()
    for channel in sorted(batches.writes.woken):
        await notify_timer_added(conn, channel)
