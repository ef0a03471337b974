"""Recipient preferences: events in the event store and the `recipient_preferences` row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared import eventstore
from counseling_shared.codes import Channel
from notify.adapters.event_codec import to_new_event
from notify.domain.preferences import PreferencesSet, RecipientPreferences, evolve
from notify.domain.quiet_hours import QuietHours

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def stream_id(recipient_id: UUID) -> str:
    return f"recipient-{recipient_id}"


async def load(conn: Connection, recipient_id: UUID) -> RecipientPreferences | None:
    row = await conn.fetchrow(
        "SELECT * FROM recipient_preferences WHERE recipient_id = $1", recipient_id
    )
    if row is None:
        return None
    quiet = (
        QuietHours(row["quiet_start"], row["quiet_end"]) if row["quiet_start"] is not None else None
    )
    return RecipientPreferences(
        recipient_id=row["recipient_id"],
        quiet_hours=quiet,
        channel=Channel(row["channel"]) if row["channel"] else None,
        updated_at=row["updated_at"],
        version=row["version"],
    )


async def record(
    conn: Connection,
    state: RecipientPreferences | None,
    recipient_id: UUID,
    events: Sequence[PreferencesSet],
) -> RecipientPreferences | None:
    """Append `events` after the loaded version and upsert the row; ConcurrencyConflict when
    another writer got there first."""
    if not events:
        return state
    version = state.version if state is not None else 0
    await eventstore.append(
        conn, stream_id(recipient_id), version, [to_new_event(e) for e in events]
    )
    new = state
    for event in events:
        new = evolve(new, event)
    assert new is not None
    await save(conn, new)
    return new


async def save(conn: Connection, new: RecipientPreferences) -> None:
    """Upsert the recipient's `recipient_preferences` row."""
    quiet = new.quiet_hours
    await conn.execute(
        """INSERT INTO recipient_preferences
               (recipient_id, quiet_start, quiet_end, channel, updated_at, version)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (recipient_id) DO UPDATE SET quiet_start = EXCLUDED.quiet_start,
               quiet_end = EXCLUDED.quiet_end, channel = EXCLUDED.channel,
               updated_at = EXCLUDED.updated_at, version = EXCLUDED.version""",
        new.recipient_id,
        quiet.start if quiet else None,
        quiet.end if quiet else None,
        new.channel.value if new.channel else None,
        new.updated_at,
        new.version,
    )
