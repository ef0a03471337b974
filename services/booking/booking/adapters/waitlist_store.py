"""Projection rows of waitlist entries and offers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from booking.domain.scheduling.waitlist import (
    Entry,
    EntryStatus,
    Offer,
    OfferStatus,
    leave_reason,
)
from counseling_shared.codes import Modality

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def entry_from(row: asyncpg.Record) -> Entry:
    return Entry(
        id=row["id"],
        site_id=row["site_id"],
        client_id=row["client_id"],
        counselor_id=row["counselor_id"],
        modality=Modality(row["modality"]) if row["modality"] else None,
        earliest=row["earliest"],
        latest=row["latest"],
        weekdays=tuple(row["weekdays"]) if row["weekdays"] else None,
        joined_at=row["joined_at"],
        status=EntryStatus(row["status"]),
        version=row["version"],
        group_session_id=row["group_session_id"],
        reason=leave_reason(row["left_reason"]) if row["left_reason"] else None,
        left_at=row["left_at"],
    )


async def load_entry(conn: Connection, entry_id: UUID, *, lock: bool = False) -> Entry | None:
    sql = "SELECT * FROM waitlist_entries WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, entry_id)
    return entry_from(row) if row else None


async def save_entry(conn: Connection, entry: Entry) -> None:
    await conn.execute(
        """INSERT INTO waitlist_entries (id, site_id, client_id, counselor_id, modality,
                                         earliest, latest, weekdays, joined_at, status, version,
                                         group_session_id, left_reason, left_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version,
               left_reason = EXCLUDED.left_reason, left_at = EXCLUDED.left_at""",
        entry.id,
        entry.site_id,
        entry.client_id,
        entry.counselor_id,
        entry.modality.value if entry.modality else None,
        entry.earliest,
        entry.latest,
        list(entry.weekdays) if entry.weekdays else None,
        entry.joined_at,
        entry.status.value,
        entry.version,
        entry.group_session_id,
        entry.reason.value if entry.reason else None,
        entry.left_at,
    )


async def candidates(
    conn: Connection,
    site_id: UUID,
    counselor_id: UUID,
    start: datetime,
    group_session_id: UUID | None = None,
) -> list[Entry]:
    """Waiting entries of the site in order of joining, without an open offer and not yet
    offered this slot. Locked, so two freed-slot passes never offer one entry twice. A group
    session's seat: that group's entries only; otherwise the ordinary waitlist only."""
    rows = await conn.fetch(
        """SELECT e.* FROM waitlist_entries e
           WHERE e.site_id = $1 AND e.status = 'waiting'
             AND e.group_session_id IS NOT DISTINCT FROM $4
             AND NOT EXISTS (SELECT 1 FROM waitlist_offers o
                             WHERE o.entry_id = e.id
                               AND (o.status = 'open'
                                    OR (o.counselor_id = $2 AND o.start_at = $3)))
           ORDER BY e.joined_at, e.id
           FOR UPDATE OF e""",
        site_id,
        counselor_id,
        start,
        group_session_id,
    )
    return [entry_from(r) for r in rows]


async def waiting(conn: Connection, site_id: UUID) -> list[Entry]:
    """The site's waiting entries, unlocked, whatever their offers: whether a slot freed
    outside the offer window is worth keeping until it opens."""
    rows = await conn.fetch(
        "SELECT * FROM waitlist_entries WHERE site_id = $1 AND status = 'waiting'", site_id
    )
    return [entry_from(r) for r in rows]


async def waiting_for_group(conn: Connection, group_session_id: UUID) -> list[Entry]:
    """A group session's waiting entries in order of joining."""
    rows = await conn.fetch(
        """SELECT * FROM waitlist_entries WHERE group_session_id = $1 AND status = 'waiting'
           ORDER BY joined_at, id""",
        group_session_id,
    )
    return [entry_from(r) for r in rows]


async def waiting_of_client(conn: Connection, client_id: UUID) -> list[Entry]:
    """A client's waiting entries, at any site, in order of joining."""
    rows = await conn.fetch(
        """SELECT * FROM waitlist_entries WHERE client_id = $1 AND status = 'waiting'
           ORDER BY joined_at, id""",
        client_id,
    )
    return [entry_from(r) for r in rows]


async def open_offers_of_group(conn: Connection, group_session_id: UUID) -> list[Offer]:
    """The group's seats offered and not yet answered, locked (the group moves or ends).
    An offer being accepted or expired right now is skipped, not waited for: that
    transaction locked it before the session, so waiting here could deadlock (an accept then
    finds the group moved; an expiry offers the seat again)."""
    rows = await conn.fetch(
        """SELECT * FROM waitlist_offers WHERE group_session_id = $1 AND status = 'open'
           ORDER BY offered_at, id FOR UPDATE SKIP LOCKED""",
        group_session_id,
    )
    return [offer_from(r) for r in rows]


async def list_entries(
    conn: Connection,
    site_id: UUID | None,
    visible_sites: Collection[UUID] | None,
    fetch: int,
    after: tuple[Any, ...] | None,
) -> list[Entry]:
    conditions: list[str] = []
    args: list[Any] = []
    if site_id is not None:
        args.append(site_id)
        conditions.append(f"site_id = ${len(args)}")
    if visible_sites is not None:
        args.append(list(visible_sites))
        conditions.append(f"site_id = ANY(${len(args)}::uuid[])")
    if after is not None:
        args += list(after)
        conditions.append(f"(joined_at, id) > (${len(args) - 1}, ${len(args)})")
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    rows = await conn.fetch(
        f"SELECT * FROM waitlist_entries{where} ORDER BY joined_at, id LIMIT {int(fetch)}", *args
    )
    return [entry_from(r) for r in rows]


def offer_from(row: asyncpg.Record) -> Offer:
    return Offer(
        id=row["id"],
        entry_id=row["entry_id"],
        site_id=row["site_id"],
        client_id=row["client_id"],
        hold_id=row["hold_id"],
        counselor_id=row["counselor_id"],
        start=row["start_at"],
        end=row["end_at"],
        offered_at=row["offered_at"],
        expires_at=row["expires_at"],
        status=OfferStatus(row["status"]),
        version=row["version"],
        appointment_id=row["appointment_id"],
        group_session_id=row["group_session_id"],
    )


async def load_offer(conn: Connection, offer_id: UUID, *, lock: bool = False) -> Offer | None:
    sql = "SELECT * FROM waitlist_offers WHERE id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, offer_id)
    return offer_from(row) if row else None


async def offer_of_hold(conn: Connection, hold_id: UUID) -> Offer | None:
    row = await conn.fetchrow("SELECT * FROM waitlist_offers WHERE hold_id = $1", hold_id)
    return offer_from(row) if row else None


async def open_offer_of_entry(conn: Connection, entry_id: UUID) -> Offer | None:
    """The entry's offer not yet answered, if any (an entry has one open offer at most)."""
    row = await conn.fetchrow(
        "SELECT * FROM waitlist_offers WHERE entry_id = $1 AND status = 'open'", entry_id
    )
    return offer_from(row) if row else None


async def offers_of_entry(conn: Connection, entry_id: UUID) -> list[Offer]:
    rows = await conn.fetch(
        "SELECT * FROM waitlist_offers WHERE entry_id = $1 ORDER BY offered_at", entry_id
    )
    return [offer_from(r) for r in rows]


async def save_offer(conn: Connection, offer: Offer) -> None:
    await conn.execute(
        """INSERT INTO waitlist_offers (id, entry_id, site_id, client_id, hold_id, counselor_id,
                                        start_at, end_at, offered_at, expires_at, status,
                                        appointment_id, version, group_session_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (id) DO UPDATE SET
               status = EXCLUDED.status, appointment_id = EXCLUDED.appointment_id,
               version = EXCLUDED.version""",
        offer.id,
        offer.entry_id,
        offer.site_id,
        offer.client_id,
        offer.hold_id,
        offer.counselor_id,
        offer.start,
        offer.end,
        offer.offered_at,
        offer.expires_at,
        offer.status.value,
        offer.appointment_id,
        offer.version,
        offer.group_session_id,
    )
