"""Rebuild booking's projections from its event store (DESIGN §2: an operator command).

Every stream is folded with its aggregate's `evolve`, in version order, and the final states
replace the projection rows. Writers wait meanwhile (a SHARE lock on `events`), so the rebuilt
rows match the store exactly.
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
from counseling_shared.eventstore import read_stream

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Stream kind → (evolve, save), in the order foreign keys need.
_KINDS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Connection, Any], Any]]] = {
    "site": (site.evolve, projections.save_site),
    "staff": (staff.evolve, projections.save_staff_member),
    "room": (room.evolve, projections.save_room),
    "client": (client.evolve, projections.save_client),
    "appointment": (appointment.evolve, projections.save_appointment),
    "hours": (hours.evolve, scheduling_store.save_hours),
    "siterules": (rules.evolve, scheduling_store.save_rules),
    "hold": (holds.evolve, scheduling_store.save_hold),
    "series": (series.evolve, series_store.save_series),
    "waitlist": (waitlist.evolve_entry, waitlist_store.save_entry),
    "offer": (waitlist.evolve_offer, waitlist_store.save_offer),
}


async def rebuild_projections(
    conn: Connection, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Replace every projection row by the fold of its stream; return rows per kind.

    `progress(done, total)` is called after each stream (`counselctl rebuild` draws a bar).
    """
    counts = dict.fromkeys(_KINDS, 0)
    async with conn.transaction():
        await conn.execute("LOCK TABLE events IN SHARE MODE")
        await conn.execute(
            "TRUNCATE waitlist_offers, waitlist_entries, series_appointments, appointment_series,"
            " slot_claims, holds, working_hours, site_booking_rules, appointments,"
            " clients, rooms, staff, sites"
        )
        streams = [
            r["stream_id"] for r in await conn.fetch("SELECT DISTINCT stream_id FROM events")
        ]
        by_kind: dict[str, list[str]] = {kind: [] for kind in _KINDS}
        for stream in streams:
            kind = stream.split("-", 1)[0]
            if kind in by_kind:
                by_kind[kind].append(stream)
        total = sum(len(found) for found in by_kind.values())
        for kind, (evolve, save) in _KINDS.items():
            for stream in sorted(by_kind[kind]):
                state = None
                for recorded in await read_stream(conn, stream):
                    state = evolve(state, event_codec.decode(recorded))
                await save(conn, state)
                counts[kind] += 1
                if progress is not None:
                    progress(sum(counts.values()), total)
    return counts
