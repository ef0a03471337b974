"""Which staff ids belong to which site, and who has left (from booking's StaffRegistered and
StaffDeactivated), to check policies and to skip people who can no longer be paged; and their
names, for the on-call page and calendar."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection


async def record_staff(
    conn: Connection,
    staff_id: UUID,
    site_id: UUID,
    role: str,
    at: datetime,
    channels: int,
    locale: str | None = None,
    phone_digest: str | None = None,
    phone_digest_key: str | None = None,
    announced_at: datetime | None = None,
    name: str | None = None,
) -> None:
    """`name`: shown to colleagues on the on-call page; `channels`: how many ways the staff
    member can be reached (the count, no details); `locale`: the language of their on-call
    page; `phone_digest`: a keyed digest of their phone, never the number, made with the key
    whose fingerprint is `phone_digest_key`.
    A later StaffRegistered (a change of details, an operator's reannouncement) replaces
    them all; one announced before what is kept (`announced_at`, the envelope's time: a retry
    or a redriven dead letter arriving late) changes nothing."""
    await conn.execute(
        """INSERT INTO staff (staff_id, site_id, role, registered_at, channels, locale,
                              phone_digest, phone_digest_key, announced_at, name)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (staff_id) DO UPDATE SET site_id = EXCLUDED.site_id, role = EXCLUDED.role,
               channels = EXCLUDED.channels, locale = EXCLUDED.locale, name = EXCLUDED.name,
               phone_digest = EXCLUDED.phone_digest,
               phone_digest_key = EXCLUDED.phone_digest_key,
               announced_at = EXCLUDED.announced_at
           WHERE staff.announced_at IS NULL OR EXCLUDED.announced_at IS NULL
              OR staff.announced_at <= EXCLUDED.announced_at""",
        staff_id,
        site_id,
        role,
        at,
        channels,
        locale,
        phone_digest,
        phone_digest_key if phone_digest is not None else None,
        announced_at,
        name,
    )


@dataclass(frozen=True)
class PhoneMatch:
    staff_id: UUID
    phone_digest: str
    phone_digest_key: str | None


async def with_phone_digest(conn: Connection, digests: Sequence[str]) -> list[PhoneMatch]:
    """Active staff whose phone has one of these digests (one per key), with the digest they
    matched by and its key's fingerprint."""
    rows = await conn.fetch(
        """SELECT staff_id, phone_digest, phone_digest_key FROM staff
           WHERE phone_digest = ANY($1::text[]) AND deactivated_at IS NULL ORDER BY staff_id""",
        list(digests),
    )
    return [PhoneMatch(r["staff_id"], r["phone_digest"], r["phone_digest_key"]) for r in rows]


async def redigest_phone(
    conn: Connection, staff_id: UUID, old_digest: str, new_digest: str, key: str
) -> None:
    """Replace the member's digest by one made with the current key (fingerprint `key`),
    unless a StaffRegistered replaced it meanwhile."""
    await conn.execute(
        """UPDATE staff SET phone_digest = $3, phone_digest_key = $4
           WHERE staff_id = $1 AND phone_digest = $2""",
        staff_id,
        old_digest,
        new_digest,
        key,
    )


async def phone_digests_by_key(conn: Connection) -> dict[str | None, int]:
    """Active staff with a phone digest, by the fingerprint of the key that made it."""
    rows = await conn.fetch(
        """SELECT phone_digest_key AS key, count(*) AS n FROM staff
           WHERE phone_digest IS NOT NULL AND deactivated_at IS NULL
           GROUP BY phone_digest_key"""
    )
    return {r["key"]: r["n"] for r in rows}


async def locale_of(conn: Connection, staff_id: UUID) -> str | None:
    locale: str | None = await conn.fetchval(
        "SELECT locale FROM staff WHERE staff_id = $1", staff_id
    )
    return locale


async def names_of(conn: Connection, staff_ids: Collection[object]) -> dict[str, str]:
    """The known names of `staff_ids`, by the id's text (members with no name left out)."""
    ids = [UUID(str(s)) for s in staff_ids]
    rows = await conn.fetch(
        "SELECT staff_id, name FROM staff WHERE staff_id = ANY($1::uuid[]) AND name IS NOT NULL",
        ids,
    )
    return {str(r["staff_id"]): r["name"] for r in rows}


async def locales_of(conn: Connection, staff_ids: Collection[UUID]) -> list[str]:
    """The locales of `staff_ids` crisis knows (one per member)."""
    rows = await conn.fetch(
        "SELECT locale FROM staff WHERE staff_id = ANY($1::uuid[]) AND locale IS NOT NULL",
        list(staff_ids),
    )
    return [r["locale"] for r in rows]


async def with_fewer_channels(
    conn: Connection, staff_ids: Collection[UUID], channels: int
) -> set[UUID]:
    """The ids among `staff_ids` known to have fewer than `channels` ways to be reached."""
    rows = await conn.fetch(
        "SELECT staff_id FROM staff WHERE staff_id = ANY($1::uuid[]) AND channels < $2",
        list(staff_ids),
        channels,
    )
    return {r["staff_id"] for r in rows}


async def not_at_site(conn: Connection, site_id: UUID, staff_ids: Collection[UUID]) -> set[UUID]:
    """The ids among `staff_ids` not registered at `site_id`."""
    known = await conn.fetch(
        "SELECT staff_id FROM staff WHERE site_id = $1 AND staff_id = ANY($2::uuid[])",
        site_id,
        list(staff_ids),
    )
    return set(staff_ids) - {r["staff_id"] for r in known}


async def sites_of(conn: Connection, staff_ids: Collection[UUID]) -> dict[UUID, UUID]:
    """The site each of `staff_ids` is registered at (members crisis has not heard of left
    out)."""
    rows = await conn.fetch(
        "SELECT staff_id, site_id FROM staff WHERE staff_id = ANY($1::uuid[])", list(staff_ids)
    )
    return {r["staff_id"]: r["site_id"] for r in rows}


async def site_of(conn: Connection, staff_id: UUID) -> UUID | None:
    site_id: UUID | None = await conn.fetchval(
        "SELECT site_id FROM staff WHERE staff_id = $1", staff_id
    )
    return site_id


async def is_active(conn: Connection, staff_id: UUID) -> bool:
    """Known to crisis and not deactivated by booking (at whichever site)."""
    found = await conn.fetchval(
        "SELECT true FROM staff WHERE staff_id = $1 AND deactivated_at IS NULL", staff_id
    )
    return bool(found)


async def is_active_at(conn: Connection, staff_id: UUID, site_id: UUID) -> bool:
    """Whether the member is registered at `site_id` and booking has not deactivated them."""
    found = await conn.fetchval(
        """SELECT true FROM staff
           WHERE staff_id = $1 AND site_id = $2 AND deactivated_at IS NULL""",
        staff_id,
        site_id,
    )
    return bool(found)


async def deactivate_staff(conn: Connection, staff_id: UUID, site_id: UUID, at: datetime) -> None:
    """Mark the member deactivated (the first time only: a replay keeps the first instant).

    A redelivered StaffRegistered may come after it: the row stands in until then, and the
    registration's upsert leaves `deactivated_at` as it is.
    """
    await conn.execute(
        """INSERT INTO staff (staff_id, site_id, role, registered_at, deactivated_at)
           VALUES ($1, $2, 'unknown', $3, $3)
           ON CONFLICT (staff_id) DO UPDATE
               SET deactivated_at = coalesce(staff.deactivated_at, EXCLUDED.deactivated_at)""",
        staff_id,
        site_id,
        at,
    )


async def inactive_among(conn: Connection, staff_ids: Collection[UUID]) -> frozenset[UUID]:
    """The ids among `staff_ids` that booking deactivated."""
    if not staff_ids:
        return frozenset()
    rows = await conn.fetch(
        """SELECT staff_id FROM staff
           WHERE staff_id = ANY($1::uuid[]) AND deactivated_at IS NOT NULL""",
        list(staff_ids),
    )
    return frozenset(r["staff_id"] for r in rows)


async def is_deactivated(db: asyncpg.Pool[Any], staff_id: UUID) -> bool:
    """For the auth layer: booking deactivated this member (one primary-key read)."""
    found = await db.fetchval(
        "SELECT deactivated_at IS NOT NULL FROM staff WHERE staff_id = $1", staff_id
    )
    return bool(found)


async def stop_texts(conn: Connection, staff_id: UUID, at: datetime) -> UUID | None:
    """Record that the member texted STOP: their site when it is new, None for a repeat."""
    site_id: UUID | None = await conn.fetchval(
        """INSERT INTO staff_sms_opt_outs (staff_id, site_id, opted_out_at)
           SELECT staff_id, site_id, $2 FROM staff WHERE staff_id = $1
           ON CONFLICT (staff_id) DO NOTHING RETURNING site_id""",
        staff_id,
        at,
    )
    return site_id


async def resume_texts(conn: Connection, staff_id: UUID) -> UUID | None:
    """Remove the member's STOP: their site when there was one, else None."""
    site_id: UUID | None = await conn.fetchval(
        "DELETE FROM staff_sms_opt_outs WHERE staff_id = $1 RETURNING site_id", staff_id
    )
    return site_id


async def texts_stopped_among(conn: Connection, staff_ids: Collection[UUID]) -> frozenset[UUID]:
    """The ids among `staff_ids` whose phone texted STOP to the paging number."""
    if not staff_ids:
        return frozenset()
    rows = await conn.fetch(
        "SELECT staff_id FROM staff_sms_opt_outs WHERE staff_id = ANY($1::uuid[])",
        list(staff_ids),
    )
    return frozenset(r["staff_id"] for r in rows)
