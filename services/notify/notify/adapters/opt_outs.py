"""`sms_opt_outs`: the digests of numbers that texted STOP (migration 0007)."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from notify.domain.phones import key_fingerprint, opt_out_digest

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection

    Conn = Connection | asyncpg.Pool[Any]


def digests(keys: Sequence[str], phone: str) -> list[str]:
    """`phone`'s digest under each key (the current one first)."""
    return [opt_out_digest(key, phone) for key in keys]


async def opt_out(
    conn: "Conn", keys: Sequence[str], phone: str, keyword: str, at: datetime
) -> None:
    """Record the number's opt-out under the current key (replacing one under an older key)."""
    current, *older = digests(keys, phone)
    await conn.execute(
        """WITH gone AS (DELETE FROM sms_opt_outs WHERE phone_digest = ANY($5::text[]))
           INSERT INTO sms_opt_outs (phone_digest, digest_key, keyword, opted_out_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (phone_digest) DO UPDATE SET keyword = $3, opted_out_at = $4""",
        current,
        key_fingerprint(keys[0]),
        keyword,
        at,
        older,
    )


async def opt_in(conn: "Conn", keys: Sequence[str], phone: str) -> bool:
    """Lift the number's opt-out (under any listed key); whether there was one."""
    status: str = await conn.execute(
        "DELETE FROM sms_opt_outs WHERE phone_digest = ANY($1::text[])", digests(keys, phone)
    )
    return status != "DELETE 0"


async def is_opted_out(conn: "Conn", keys: Sequence[str], phone: str) -> bool:
    """Whether the number opted out (`opted_out_among` for one number)."""
    return phone in await opted_out_among(conn, keys, [phone])


async def opted_out_among(conn: "Conn", keys: Sequence[str], phones: Iterable[str]) -> set[str]:
    """Which of `phones` opted out, in one statement. One found under an older key is digested
    again with the current one, so it survives that key being dropped from
    LINK_SIGNING_PREVIOUS_KEYS."""
    by_digest: dict[str, tuple[str, str]] = {}  # any key's digest -> (number, current digest)
    for phone in dict.fromkeys(phones):
        found = digests(keys, phone)
        by_digest.update((digest, (phone, found[0])) for digest in found)
    if not by_digest:
        return set()
    rows = await conn.fetch(
        "SELECT phone_digest FROM sms_opt_outs WHERE phone_digest = ANY($1::text[])",
        list(by_digest),
    )
    opted_out = set()
    for row in rows:
        phone, current = by_digest[row["phone_digest"]]
        opted_out.add(phone)
        if row["phone_digest"] != current:
            await conn.execute(
                """UPDATE sms_opt_outs SET phone_digest = $2, digest_key = $3
                   WHERE phone_digest = $1
                     AND NOT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_digest = $2)""",
                row["phone_digest"],
                current,
                key_fingerprint(keys[0]),
            )
    return opted_out


async def count_by_key(conn: "Conn") -> dict[str | None, int]:
    """Opt-outs by the fingerprint of the key that made their digest."""
    rows = await conn.fetch(
        "SELECT digest_key AS key, count(*) AS n FROM sms_opt_outs GROUP BY digest_key"
    )
    return {r["key"]: r["n"] for r in rows}
