"""Staff PIN hashes and their wrong-try counts (table `staff_pins`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class StoredPin:
    pin_hash: str
    failed_attempts: int
    locked_until: datetime | None


async def set_pin(conn: Connection, staff_id: UUID, pin_hash: str, at: datetime) -> None:
    """A new PIN starts with no wrong tries and no lock."""
    await conn.execute(
        """INSERT INTO staff_pins (staff_id, pin_hash, set_at) VALUES ($1, $2, $3)
           ON CONFLICT (staff_id) DO UPDATE SET pin_hash = EXCLUDED.pin_hash,
               set_at = EXCLUDED.set_at, failed_attempts = 0, locked_until = NULL""",
        staff_id,
        pin_hash,
        at,
    )


async def pin_of(conn: Connection, staff_id: UUID) -> StoredPin | None:
    """The row, locked for this transaction: two tries at once count as two."""
    row = await conn.fetchrow(
        """SELECT pin_hash, failed_attempts, locked_until FROM staff_pins
           WHERE staff_id = $1 FOR UPDATE""",
        staff_id,
    )
    if row is None:
        return None
    return StoredPin(row["pin_hash"], row["failed_attempts"], row["locked_until"])


async def record_try(
    conn: Connection, staff_id: UUID, failed_attempts: int, locked_until: datetime | None
) -> None:
    await conn.execute(
        "UPDATE staff_pins SET failed_attempts = $2, locked_until = $3 WHERE staff_id = $1",
        staff_id,
        failed_attempts,
        locked_until,
    )
