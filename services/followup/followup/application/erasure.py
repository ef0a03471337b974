"""Erasing a client on request: followup drops all it holds about them (docs/security.md).

That is their zone and preferences, every follow-up with its outcome's free text, their answers
to check-in forms (with their comments) and their scores, their appointments as booking reported
them, their contact regularity (the gap timer, which would otherwise still fire, and when their
contacts were positive or negative), the event streams behind them, and the dead letters naming
them.
Runs as the operator (`counselctl clients erase`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.erasure import erase_dead_letters
from followup.domain import appointments, client_care, followup, regularity

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def erase_client(conn: Connection, client_id: UUID) -> dict[str, int]:
    """Delete the client's rows and streams; return the rows deleted per table."""
    async with conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM followups WHERE client_id = $1", client_id)
        ]
        booked = [
            r["appointment_id"]
            for r in await conn.fetch(
                "SELECT appointment_id FROM appointments WHERE client_id = $1", client_id
            )
        ]
        streams = (
            [client_care.stream_id(client_id), regularity.stream_id(client_id)]
            + [followup.stream_id(i) for i in ids]
            + [appointments.stream_id(i) for i in booked]
        )
        events = await conn.execute("DELETE FROM events WHERE stream_id = ANY($1::text[])", streams)
        preferences = await conn.execute(
            "DELETE FROM followup_preferences WHERE client_id = $1", client_id
        )
        responses = await conn.execute(
            "DELETE FROM checkin_responses WHERE client_id = $1", client_id
        )
        measures = await conn.execute("DELETE FROM measures WHERE client_id = $1", client_id)
        followups = await conn.execute("DELETE FROM followups WHERE client_id = $1", client_id)
        appointment_rows = await conn.execute(
            "DELETE FROM appointments WHERE client_id = $1", client_id
        )
        regularity_rows = await conn.execute(
            "DELETE FROM contact_regularity WHERE id = $1", client_id
        )
        clients = await conn.execute("DELETE FROM clients WHERE client_id = $1", client_id)
        dead_letters = await erase_dead_letters(conn, client_id)
    return {
        "clients": _count(clients),
        "followup_preferences": _count(preferences),
        "followups": _count(followups),
        "appointments": _count(appointment_rows),
        "contact_regularity": _count(regularity_rows),
        "checkin_responses": _count(responses),
        "measures": _count(measures),
        "events": _count(events),
        "dead_letters": dead_letters,
    }


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
