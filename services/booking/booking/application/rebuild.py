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
cancelled one (the write path deletes it). The hold timers' and the deferred offers' schedulers
are woken once, at the end.

When `appointments` already holds about as many rows as the store has appointments, it and
`slot_claims` are compared with the rebuilt rows instead of emptied, and only the rows that
differ are written (`appointment_twins`: the exclusion constraints then check only those).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from booking.adapters import (
    appointment_twins,
    closures_store,
    deferred_store,
    event_codec,
    group_series_store,
    group_session_store,
    projections,
    scheduling_store,
    series_store,
    waitlist_store,
)
from booking.domain import appointment, client, group_series, group_session, room, site, staff
from booking.domain.scheduling import closures, deferred, holds, hours, rules, series, waitlist
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
    # After the appointments: a compared rebuild drops every claim not an appointment's.
    "group_session": (group_session.evolve, group_session_store.save_replayed_group_session),
    "group_series": (group_series.evolve, group_series_store.save_group_series),
    "hours": (hours.evolve, scheduling_store.save_hours),
    "siterules": (rules.evolve, scheduling_store.save_rules),
    "siteclosures": (closures.evolve, closures_store.save_closures),
    "hold": (holds.evolve, scheduling_store.save_hold),
    "series": (series.evolve, series_store.save_series),
    "waitlist": (waitlist.evolve_entry, waitlist_store.save_entry),
    "offer": (waitlist.evolve_offer, waitlist_store.save_offer),
    "deferred": (deferred.evolve, deferred_store.save_deferred),
}

# The tables each kind's saves write.
_TABLES_OF_KIND = {
    "site": ("sites",),
    "staff": ("staff",),
    "room": ("rooms",),
    "client": ("clients",),
    "appointment": ("appointments", "slot_claims"),
    "group_session": ("group_sessions", "slot_claims"),
    "group_series": ("group_session_series",),
    "hours": ("working_hours",),
    "siterules": ("site_booking_rules",),
    "siteclosures": ("site_closures",),
    "hold": ("holds", "slot_claims"),
    "series": ("appointment_series", "series_appointments"),
    "waitlist": ("waitlist_entries",),
    "offer": ("waitlist_offers",),
    "deferred": ("waitlist_deferred_slots",),
}
# Streams of a kind from which its tables' indexes and constraints are dropped meanwhile:
# dropping and adding one again costs about what keeping it costs a hundred rows.
MANY_STREAMS = 100
# Aggregates a batch (and about two fetches' worth of events): small enough that a store of a
# few thousand appointments is written in several batches, each copied (and its exclusion
# constraints checked) while the next is folded, instead of in one batch at the kind's end.
FLUSH_EVERY = 250

# `appointments` compared with the rebuilt rows (`appointment_twins`) when it holds at least
# this share of the store's appointments: a projection mostly lost gains nothing from it.
COMPARED_SHARE = 0.5
# Appointments rebuilt before the comparison is judged worth it (`Twins.decide`).
COMPARED_SAMPLE = 250

# Every projection table, children before the rows they reference.
_TABLES = (
    "waitlist_deferred_slots",
    "waitlist_offers",
    "waitlist_entries",
    "series_appointments",
    "appointment_series",
    "slot_claims",
    "holds",
    "group_session_series",
    "group_sessions",
    "working_hours",
    "site_booking_rules",
    "site_closures",
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
    compared_sample: int = COMPARED_SAMPLE,
) -> dict[str, int]:
    """Replace every projection row by the fold of its stream; return rows per kind.

    `progress(done, total)` is called after each batch of streams is written (`counselctl
    rebuild` draws a bar); at most `flush_every` folded aggregates wait in memory. The
    tables of a kind with `many_streams` or more are written without their secondary
    indexes and foreign keys, which are added again at the end. A filled `appointments` is
    compared with the rebuilt rows unless most of the first `compared_sample` differ.
    """
    counts = dict.fromkeys(_KINDS, 0)
    # No cyclic collection while it runs (`gc_paused`: one costs up to 40 ms here).
    async with gc_paused(), conn.transaction():
        # One round trip (a simple query). The commit does not wait for its WAL to reach the
        # disk (20 to 40 ms): see `counseling_shared.db.REBUILD_COMMIT`. ACCESS EXCLUSIVE, as
        # TRUNCATE takes it (the tables compared are not truncated): readers wait for the
        # commit whether or not the indexes are there meanwhile, each built once at the end.
        await conn.execute(
            f"{REBUILD_COMMIT}; LOCK TABLE events IN SHARE MODE;"
            f" LOCK TABLE {', '.join(_TABLES)} IN ACCESS EXCLUSIVE MODE"
        )
        streams, projected = await _streams_of_kinds(conn)
        many = {t for k, n in streams.items() if n >= many_streams for t in _TABLES_OF_KIND[k]}
        # Compared only with their foreign keys dropped meanwhile (`many`): the tables they
        # reference are truncated.
        booked = streams.get("appointment", 0)
        twins = "appointments" in many and projected >= COMPARED_SHARE * booked
        async with (
            indexes_built_after(conn, sorted(many), foreign_keys=True),
            binary_jsonb(conn),  # appointments' goals, copied
        ):
            await conn.execute(_emptied(twins))
            sample = compared_sample if twins else None
            await _refold(conn, streams, counts, progress, flush_every, sample)
    return counts


def _emptied(twins: bool) -> str:
    """TRUNCATE of the tables rebuilt from nothing, and the temporary twins of the others."""
    if not twins:
        return f"TRUNCATE {', '.join(_TABLES)}"
    emptied = ", ".join(t for t in _TABLES if t not in appointment_twins.TWINS)
    return f"TRUNCATE {emptied}; {appointment_twins.CREATE}"


async def _streams_of_kinds(conn: Connection) -> tuple[dict[str, int], int]:
    """How many streams of each of `_KINDS` the store holds, and how many rows `appointments`
    holds."""
    found = await conn.fetch(
        """SELECT split_part(stream_id, '-', 1) AS kind, count(*) AS streams,
                  (SELECT count(*) FROM appointments) AS projected
           FROM (SELECT DISTINCT stream_id FROM events) AS s GROUP BY 1"""
    )
    projected = found[0]["projected"] if found else 0
    return {r["kind"]: r["streams"] for r in found if r["kind"] in _KINDS}, projected


async def _refold(
    conn: Connection,
    streams: dict[str, int],
    counts: dict[str, int],
    progress: Callable[[int, int], None] | None,
    flush_every: int,
    compared_sample: int | None,
) -> None:
    """Fold every stream (`streams` of each kind) and write its rows (in batches); count them
    into `counts`. With a `compared_sample`, appointments are copied into the twins, judged
    after that many, and applied after their kind (before the holds' claims are written)."""
    total = sum(streams.values())
    async with Batches(conn, every=flush_every, total=total, progress=progress) as batches:
        twin, judged = None, None
        if compared_sample is not None:
            twin = appointment_twins.Twins(batches.into)
            judged = (compared_sample, twin.decide)
        # In the kinds' order, each kind's events read by one query; none for a kind with no
        # stream (the SHARE lock keeps the count true).
        for kind, fold in _KINDS.items():
            if kind == "appointment" and twin is not None:
                into = cast("Connection", twin)
                await _refold_kind(conn, batches, kind, fold, into, counts, judged)
                await twin.apply(conn)  # before the holds' claims are written
            elif streams.get(kind):
                await _refold_kind(conn, batches, kind, fold, batches.into, counts)
    for channel in sorted(batches.writes.woken):
        await notify_timer_added(conn, channel)


async def _refold_kind(
    conn: Connection,
    batches: Batches,
    kind: str,
    fold: tuple[Callable[[Any, Any], Any], Callable[[Connection, Any], Any]],
    into: Connection,
    counts: dict[str, int],
    first_batch: tuple[int, Callable[[Connection], Awaitable[None]]] | None = None,
) -> None:
    """Fold and save (into `into`) every stream of `kind`, then write what waits. With
    `first_batch` (n, call): once n aggregates are saved, they are written, then `call` runs."""
    evolve, save = fold
    async for records in read_streams_json(conn, f"{kind}-", gate=batches, prefetch=batches.fetch):
        state = None
        for recorded in records:
            state = evolve(state, event_codec.decode_json(recorded.type, recorded.data_json))
        await save(into, state)
        counts[kind] += 1
        await batches.saved()
        if first_batch is not None and counts[kind] == first_batch[0]:
            await batches.flush()  # between two fetches: the connection is free
            await first_batch[1](conn)
    await batches.flush()
