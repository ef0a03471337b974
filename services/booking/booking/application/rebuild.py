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

When `appointments` already holds about as many rows as the store has appointments (a rebuild
of a projection that is mostly right), it and `slot_claims` are compared instead of emptied:
the rebuilt rows are copied into temporary twins, and at the end of the appointments only the
rows that differ (or exist on one side only) are deleted, then the rebuilt ones inserted. The
exclusion constraints then check only the rows written, not every booked appointment again
(four probes each, whose cost grows with the appointments of its counselor and client: most of
PostgreSQL's share). Deleting before inserting keeps the result that of an empty table: rows
that conflict only in an intermediate state never meet. A projection whose rows mostly differ
pays for it: its inserts run after the fold instead of beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

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

# Tables compared with their rebuilt rows (in temporary twins) rather than emptied, when
# `appointments` is filled: what the exclusion constraints check is then only what changed.
_TWINS = {"appointments": "rebuilt_appointments", "slot_claims": "rebuilt_slot_claims"}
# Compared when `appointments` holds at least this share of the store's appointments: a
# projection mostly lost gains nothing from the comparison and loses the inserts' overlap.
COMPARED_SHARE = 0.5
# The rows that differ out, the rebuilt ones in: deletes first, so that a row moving into a
# slot another row is leaving never meets it (the result is that of an emptied table). Rows are
# equal when every column is (`IS NOT DISTINCT FROM`, each type's equality). Holds' claims are
# not in the twin: deleted here, written again by the holds' saves.
_APPLY_TWINS = """
    DELETE FROM slot_claims c WHERE NOT EXISTS (
        SELECT FROM rebuilt_slot_claims r
        WHERE r.owner_id = c.owner_id AND ROW(r.*) IS NOT DISTINCT FROM ROW(c.*));
    DELETE FROM appointments a WHERE NOT EXISTS (
        SELECT FROM rebuilt_appointments r
        WHERE r.id = a.id AND ROW(r.*) IS NOT DISTINCT FROM ROW(a.*));
    INSERT INTO appointments SELECT * FROM rebuilt_appointments r
        WHERE NOT EXISTS (SELECT FROM appointments a WHERE a.id = r.id);
    INSERT INTO slot_claims SELECT * FROM rebuilt_slot_claims r
        WHERE NOT EXISTS (SELECT FROM slot_claims c WHERE c.owner_id = r.owner_id);
    DROP TABLE rebuilt_appointments, rebuilt_slot_claims"""

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
            await _refold(conn, streams, counts, progress, flush_every, twins)
    return counts


def _emptied(twins: bool) -> str:
    """TRUNCATE of the tables rebuilt from nothing, and the temporary twins of the others."""
    if not twins:
        return f"TRUNCATE {', '.join(_TABLES)}"
    emptied = ", ".join(t for t in _TABLES if t not in _TWINS)
    created = "; ".join(
        f"CREATE TEMPORARY TABLE {twin} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        for table, twin in _TWINS.items()
    )
    return f"TRUNCATE {emptied}; {created}"


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


class _IntoTwins:
    """A rebuild's recorder whose copies into a table of `_TWINS` go to its twin. It copies
    only: a save that would do anything else fails loudly (AttributeError)."""

    def __init__(self, into: Connection) -> None:
        self._into = into

    async def copy_records_to_table(
        self, table_name: str, *, records: Iterable[Sequence[Any]], columns: Sequence[str]
    ) -> str:
        twin = _TWINS.get(table_name, table_name)
        copied: str = await self._into.copy_records_to_table(twin, records=records, columns=columns)
        return copied


async def _refold(
    conn: Connection,
    streams: dict[str, int],
    counts: dict[str, int],
    progress: Callable[[int, int], None] | None,
    flush_every: int,
    twins: bool,
) -> None:
    """Fold every stream (`streams` of each kind) and write its rows (in batches); count them
    into `counts`. With `twins`, appointments are copied into the twins and applied after
    their kind (before the holds, whose claims share `slot_claims`)."""
    total = sum(streams.values())
    async with Batches(conn, every=flush_every, total=total, progress=progress) as batches:
        appointments_into = cast("Connection", _IntoTwins(batches.into)) if twins else None
        # In the kinds' order, each kind's events read by one query; none for a kind with no
        # stream (the SHARE lock keeps the count true).
        for kind, (evolve, save) in _KINDS.items():
            if streams.get(kind):
                into = batches.into
                if kind == "appointment" and appointments_into is not None:
                    into = appointments_into
                await _refold_kind(conn, batches, kind, (evolve, save), into, counts)
            if kind == "appointment" and twins:
                await conn.execute(_APPLY_TWINS)  # before the holds' claims are written
    for channel in sorted(batches.writes.woken):
        await notify_timer_added(conn, channel)


async def _refold_kind(
    conn: Connection,
    batches: Batches,
    kind: str,
    fold: tuple[Callable[[Any, Any], Any], Callable[[Connection, Any], Any]],
    into: Connection,
    counts: dict[str, int],
) -> None:
    """Fold and save (into `into`) every stream of `kind`, then write what waits."""
    evolve, save = fold
    async for records in read_streams_json(conn, f"{kind}-", gate=batches, prefetch=batches.fetch):
        state = None
        for recorded in records:
            state = evolve(state, event_codec.decode_json(recorded.type, recorded.data_json))
        await save(into, state)
        counts[kind] += 1
        await batches.saved()
    await batches.flush()
