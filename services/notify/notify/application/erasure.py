"""Erasing a client on request: notify drops all it holds about them (docs/security.md).

That is their profile (locale, zone, channel), their preferences, every notification to them
with its attempts and event stream, and every webhook delivery (with its attempts) whose event
names them, and the dead letters naming them. Runs as the operator (`counselctl clients erase`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.erasure import erase_dead_letters
from notify.adapters.notification_store import stream_id as notification_stream
from notify.adapters.preference_store import stream_id as preference_stream

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def erase_client(conn: Connection, client_id: UUID) -> dict[str, int]:
    """Delete the client's rows and streams; return the rows deleted per table."""
    async with conn.transaction():
        # Locked first: a worker recording a delivery would otherwise commit an attempt
        # between our delete of the attempts and our delete of its notification.
        ids = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM notifications
                   WHERE recipient_id = $1 AND recipient_kind = 'client'
                   FOR UPDATE""",
                client_id,
            )
        ]
        streams = [preference_stream(client_id)] + [notification_stream(i) for i in ids]
        events = await conn.execute("DELETE FROM events WHERE stream_id = ANY($1::text[])", streams)
        attempts = await conn.execute(
            "DELETE FROM notification_attempts WHERE notification_id = ANY($1::uuid[])", ids
        )
        notifications = await conn.execute(
            "DELETE FROM notifications WHERE id = ANY($1::uuid[])", ids
        )
        preferences = await conn.execute(
            "DELETE FROM recipient_preferences WHERE recipient_id = $1", client_id
        )
        clients = await conn.execute("DELETE FROM clients WHERE client_id = $1", client_id)
        reminders = await conn.execute("DELETE FROM sms_reminders WHERE client_id = $1", client_id)
        unknown = await conn.execute(
            "DELETE FROM twilio_unknown_outcomes WHERE notification_id = ANY($1::uuid[])", ids
        )
        hooks = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM webhook_deliveries WHERE strpos(body, $1) > 0", str(client_id)
            )
        ]
        await conn.execute(
            "DELETE FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])", hooks
        )
        deliveries = await conn.execute(
            "DELETE FROM webhook_deliveries WHERE id = ANY($1::uuid[])", hooks
        )
        dead_letters = await erase_dead_letters(conn, client_id)
    return {
        "clients": _count(clients),
        "recipient_preferences": _count(preferences),
        "notifications": _count(notifications),
        "notification_attempts": _count(attempts),
        "events": _count(events),
        "webhook_deliveries": _count(deliveries),
        "dead_letters": dead_letters,
        "sms_reminders": _count(reminders),
        "twilio_unknown_outcomes": _count(unknown),
    }


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
