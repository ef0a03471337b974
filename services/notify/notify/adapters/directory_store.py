"""Sites, staff and clients as notify knows them from booking's events (upserts: the inbox
already makes each event apply once, and a later event simply wins)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from notify.domain.recipients import ClientProfile, Site, StaffMember

StaffDeactivation = tuple[UUID, UUID, datetime]
"""(staff_id, site_id, deactivated_at)"""

if TYPE_CHECKING:
    import asyncpg

    from counseling_shared.db import Connection


_SAVE_SITE = """INSERT INTO sites (site_id, name, timezone, locale) VALUES ($1, $2, $3, $4)
    ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name,
        timezone = EXCLUDED.timezone, locale = EXCLUDED.locale"""

# A replayed StaffRegistered never brings back the contact details of someone deactivated.
# booking announces a member again when their details change: one announced before the
# details kept here (a retry or a redriven dead letter arriving late) changes nothing.
_SAVE_STAFF = """INSERT INTO staff_contacts (staff_id, site_id, name, role, email, phone, locale,
                                       announced_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (staff_id) DO UPDATE SET site_id = EXCLUDED.site_id,
        name = EXCLUDED.name, role = EXCLUDED.role, locale = EXCLUDED.locale,
        email = CASE WHEN staff_contacts.deactivated_at IS NULL
                     THEN EXCLUDED.email END,
        phone = CASE WHEN staff_contacts.deactivated_at IS NULL
                     THEN EXCLUDED.phone END,
        announced_at = EXCLUDED.announced_at
    WHERE staff_contacts.announced_at IS NULL OR EXCLUDED.announced_at IS NULL
       OR staff_contacts.announced_at <= EXCLUDED.announced_at"""

# Deactivation clears the contact details (nothing is sent to them any more); a row stands in
# when StaffRegistered has not been seen, so a late one cannot make the person pageable.
_DEACTIVATE_STAFF = """INSERT INTO staff_contacts (staff_id, site_id, name, role, email, phone,
                                       locale, deactivated_at)
    VALUES ($1, $2, '', '', NULL, NULL, '', $3)
    ON CONFLICT (staff_id) DO UPDATE SET email = NULL, phone = NULL,
        deactivated_at = coalesce(staff_contacts.deactivated_at, EXCLUDED.deactivated_at)"""

_SAVE_CLIENT = """INSERT INTO clients (client_id, site_id, locale, timezone, preferred_channel)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (client_id) DO UPDATE SET site_id = EXCLUDED.site_id,
        locale = EXCLUDED.locale, timezone = EXCLUDED.timezone,
        preferred_channel = EXCLUDED.preferred_channel"""


def _site_row(site: Site) -> tuple[object, ...]:
    return (site.site_id, site.name, site.timezone, site.locale)


def _staff_row(staff: StaffMember) -> tuple[object, ...]:
    return (
        staff.staff_id,
        staff.site_id,
        staff.name,
        staff.role,
        staff.email,
        staff.phone,
        staff.locale,
        staff.announced_at,
    )


def _client_row(client: ClientProfile) -> tuple[object, ...]:
    return (
        client.client_id,
        client.site_id,
        client.locale,
        client.timezone,
        client.preferred_channel.value,
    )


async def save_site(conn: Connection, site: Site) -> None:
    await conn.execute(_SAVE_SITE, *_site_row(site))


async def save_staff(conn: Connection, staff: StaffMember) -> None:
    await conn.execute(_SAVE_STAFF, *_staff_row(staff))


async def deactivate_staff(conn: Connection, deactivation: StaffDeactivation) -> None:
    await conn.execute(_DEACTIVATE_STAFF, *deactivation)


async def save_client(conn: Connection, client: ClientProfile) -> None:
    await conn.execute(_SAVE_CLIENT, *_client_row(client))


async def save_directory(
    conn: Connection,
    sites: Sequence[Site],
    staff: Sequence[StaffMember],
    clients: Sequence[ClientProfile],
    deactivations: Sequence[StaffDeactivation] = (),
) -> None:
    """A batch of upserts, one pipelined round trip per table; within a table rows apply in
    order, so a later event for the same id still wins. Sites first: staff and clients are
    at a site."""
    if sites:
        await conn.executemany(_SAVE_SITE, [_site_row(s) for s in sites])
    if staff:
        await conn.executemany(_SAVE_STAFF, [_staff_row(s) for s in staff])
    if clients:
        await conn.executemany(_SAVE_CLIENT, [_client_row(c) for c in clients])
    if deactivations:  # after the staff upserts: a later deactivation wins
        await conn.executemany(_DEACTIVATE_STAFF, deactivations)


async def is_client(conn: Connection, recipient_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM clients WHERE client_id = $1", recipient_id))


async def recipient_site_id(conn: Connection, recipient_id: UUID) -> UUID | None:
    """The site of a known client or staff member (for API-key site checks)."""
    found: UUID | None = await conn.fetchval(
        """SELECT site_id FROM clients WHERE client_id = $1
           UNION ALL SELECT site_id FROM staff_contacts WHERE staff_id = $1 LIMIT 1""",
        recipient_id,
    )
    return found


async def is_deactivated(db: asyncpg.Pool[Any], staff_id: UUID) -> bool:
    """For the auth layer: booking deactivated this member (one primary-key read)."""
    found = await db.fetchval(
        "SELECT deactivated_at IS NOT NULL FROM staff_contacts WHERE staff_id = $1", staff_id
    )
    return bool(found)


async def client_locale_zone(conn: Connection, client_id: UUID) -> tuple[str, str] | None:
    """A known client's locale and time zone as booking's events told notify."""
    row = await conn.fetchrow(
        "SELECT locale, timezone FROM clients WHERE client_id = $1", client_id
    )
    return None if row is None else (str(row["locale"]), str(row["timezone"]))
