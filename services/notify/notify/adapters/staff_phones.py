"""Whether a number texting notify is an active staff member's phone (and their locale), from
notify's own copy of booking's staff contacts (`staff_contacts`, the phones pages go to)."""

import re
from typing import TYPE_CHECKING, Any

from counseling_shared.phones import normalise_phone

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection

_NOT_DIGITS = re.compile(r"[^0-9]")


async def is_staff_phone(conn: "Connection | asyncpg.Pool[Any]", phone: str) -> bool:
    """Compared in the one normal form (`+33 6 12…` is `0033612…`)."""
    return bool(await _staff_with(conn, phone))


async def locale_of_staff_phone(conn: "Connection | asyncpg.Pool[Any]", phone: str) -> str | None:
    """The locale of the active staff member with this phone (None: nobody's, or several
    members' in different locales: a shared desk phone)."""
    locales = {r["locale"] for r in await _staff_with(conn, phone)}
    return locales.pop() if len(locales) == 1 else None


async def _staff_with(conn: "Connection | asyncpg.Pool[Any]", phone: str) -> list[Any]:
    """The active staff rows with this phone. The rows are narrowed in SQL by the number's
    last six digits, then compared exactly here."""
    wanted = normalise_phone(phone)
    tail = _NOT_DIGITS.sub("", wanted)[-6:]
    if len(tail) < 6:
        return []
    rows = await conn.fetch(
        """SELECT phone, locale FROM staff_contacts
           WHERE deactivated_at IS NULL AND phone IS NOT NULL
             AND right(regexp_replace(phone, '[^0-9]', '', 'g'), 6) = $1""",
        tail,
    )
    return [r for r in rows if normalise_phone(r["phone"]) == wanted]
