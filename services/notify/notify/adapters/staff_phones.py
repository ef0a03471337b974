"""Whether a number texting notify is an active staff member's phone, from notify's own copy
of booking's staff contacts (`staff_contacts`, the phones pages go to)."""

import re
from typing import TYPE_CHECKING, Any

from counseling_shared.phones import normalise_phone

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection

_NOT_DIGITS = re.compile(r"[^0-9]")


async def is_staff_phone(conn: "Connection | asyncpg.Pool[Any]", phone: str) -> bool:
    """Compared in the one normal form (`+33 6 12…` is `0033612…`). The rows are narrowed in
    SQL by the number's last six digits, then compared exactly here."""
    wanted = normalise_phone(phone)
    tail = _NOT_DIGITS.sub("", wanted)[-6:]
    if len(tail) < 6:
        return False
    rows = await conn.fetch(
        """SELECT phone FROM staff_contacts
           WHERE deactivated_at IS NULL AND phone IS NOT NULL
             AND right(regexp_replace(phone, '[^0-9]', '', 'g'), 6) = $1""",
        tail,
    )
    return any(normalise_phone(r["phone"]) == wanted for r in rows)
