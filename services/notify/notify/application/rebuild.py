"""Rebuild notify's projections from its event store (DESIGN §2: an operator command).

Rebuilt, from notify's own streams: `notifications` and `notification_attempts`
(`notification-<id>`: every attempt is a `DeliveryAttempted` event) and `recipient_preferences`
(`recipient-<id>`). Each stream is folded with the domain's `evolve` and written by the same
functions the write path uses (`notification_store.save_new` / `save_change`,
`preference_store.save`).

Left untouched: `sites`, `staff_contacts` and `clients`, copies of booking's facts kept from
consumed events (notify records no event of its own for them, so its store cannot rebuild them;
booking's stream can, through the consumers), and the backbone's tables.

Pending deliveries are projections too: a pending row's `next_attempt_at` and `hold_reason` come
from its events (requested, held for quiet hours, retry scheduled, expedited), so every message
still waiting is waiting again, at the same time. Two columns of a row are not in any event and
are carried over by id: `claimed_until`, the lease of the worker delivering it right now (clearing
it would let a second worker claim the message and send it twice), and `trace_headers` (the trace
of the event that asked for it). The lanes' workers are woken when the rebuild commits.

Writers wait meanwhile (a SHARE lock on `events`). Old rows are deleted rather than truncated so
readers (the API, the lane workers' claims) keep seeing them until the rebuild commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from counseling_shared.eventstore import RecordedEvent, read_stream
from notify.adapters import notification_store, preference_store
from notify.adapters.event_codec import from_recorded
from notify.domain import notification, preferences
from notify.domain.codes import Lane

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Stream kind (the stream id's prefix) → the kind reported.
_KINDS = {"notification": "notification", "recipient": "recipient_preferences"}


async def rebuild_projections(
    conn: Connection, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Replace every projection row of notify's own streams by their fold; rows per kind.

    `progress(done, total)` is called after each stream (`counselctl rebuild` draws a bar).
    """
    counts = dict.fromkeys(_KINDS.values(), 0)
    async with conn.transaction():
        await conn.execute("LOCK TABLE events IN SHARE MODE")
        await conn.execute(
            """CREATE TEMPORARY TABLE kept_delivery_state ON COMMIT DROP AS
               SELECT id, claimed_until, trace_headers FROM notifications"""
        )
        for table in ("notification_attempts", "notifications", "recipient_preferences"):
            await conn.execute(f"DELETE FROM {table}")
        streams = [
            r["stream_id"]
            for r in await conn.fetch("SELECT DISTINCT stream_id FROM events ORDER BY stream_id")
        ]
        ours = [s for s in streams if s.partition("-")[0] in _KINDS]
        for stream in ours:
            kind = stream.partition("-")[0]
            if kind == "notification":
                await _rebuild_notification(conn, stream)
            else:
                await _rebuild_preferences(conn, stream)
            counts[_KINDS[kind]] += 1
            if progress is not None:
                progress(sum(counts.values()), len(ours))
        await conn.execute(
            """UPDATE notifications n
               SET claimed_until = k.claimed_until, trace_headers = k.trace_headers
               FROM kept_delivery_state k WHERE k.id = n.id"""
        )
        for lane in Lane:
            await notification_store.wake(conn, lane)
    return counts


async def _rebuild_notification(conn: Connection, stream: str) -> None:
    requested, *changes = [_notification_event(r) for r in await read_stream(conn, stream)]
    state = notification.evolve(None, requested)
    await notification_store.save_new(conn, state, {})
    if changes:
        await notification_store.save_change(conn, notification.fold(state, changes), changes)


def _notification_event(recorded: RecordedEvent) -> notification.NotificationEvent:
    event = from_recorded(recorded)
    if isinstance(event, preferences.PreferencesSet):
        raise ValueError(f"{recorded.stream_id} holds a {recorded.type}")
    return event


async def _rebuild_preferences(conn: Connection, stream: str) -> None:
    state: preferences.RecipientPreferences | None = None
    for recorded in await read_stream(conn, stream):
        event = from_recorded(recorded)
        if not isinstance(event, preferences.PreferencesSet):
            raise ValueError(f"{stream} holds a {recorded.type}")
        state = preferences.evolve(state, event)
    if state is not None:
        await preference_store.save(conn, state)
