"""Erasing a client on request: crisis drops all it holds about them (docs/security.md).

That is their risk flags, every alert with its pages, timeline, deadlines and event stream, and
the client's site when crisis keeps it, and the dead letters naming them.
A client with an alert still open or acknowledged is refused: a crisis in progress is resolved
first. Runs as the operator (`counselctl clients erase`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.erasure import erase_dead_letters
from crisis.adapters.alerts import stream_id

if TYPE_CHECKING:
    from counseling_shared.db import Connection


class ActiveAlert(ValueError):
    """The client has an alert that is not resolved yet (a refusal: `ValueError`, as
    `counselctl clients erase` expects)."""


async def erase_client(conn: Connection, client_id: UUID) -> dict[str, int]:
    """Delete the client's rows and streams; return the rows deleted per table."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT id, status FROM alerts WHERE client_id = $1 FOR UPDATE", client_id
        )
        active = [r["id"] for r in rows if r["status"] != "resolved"]
        if active:
            raise ActiveAlert(f"alert {active[0]} of this client is not resolved")
        ids = [r["id"] for r in rows]
        counts = {
            "events": await conn.execute(
                "DELETE FROM events WHERE stream_id = ANY($1::text[])", [stream_id(i) for i in ids]
            )
        }
        for table in ("escalation_timers", "alert_pages", "alert_timeline"):
            counts[table] = await conn.execute(
                f"DELETE FROM {table} WHERE alert_id = ANY($1::uuid[])",
                ids,
            )
        counts["risk_flags"] = await conn.execute(
            "DELETE FROM risk_flags WHERE client_id = $1", client_id
        )
        counts["alerts"] = await conn.execute("DELETE FROM alerts WHERE id = ANY($1::uuid[])", ids)
        if await conn.fetchval("SELECT to_regclass('clients') IS NOT NULL"):
            # Where crisis keeps clients' sites (to check flags), when it does.
            counts["clients"] = await conn.execute(
                "DELETE FROM clients WHERE client_id = $1", client_id
            )
        dead_letters = await erase_dead_letters(conn, client_id)
    changed = {table: int(status.rsplit(" ", 1)[-1]) for table, status in counts.items()}
    return changed | {"dead_letters": dead_letters}
