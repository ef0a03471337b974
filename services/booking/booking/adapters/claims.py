"""`slot_claims`: the one table whose exclusion constraints keep booked appointments and live
holds apart (migration 0003). Each projection save keeps its owner's claim in step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from booking.domain.appointment import Appointment
    from booking.domain.group_session import GroupSession
    from booking.domain.scheduling.holds import Hold
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class Claim:
    owner_id: UUID
    owner_kind: str  # appointment | hold | group_session
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    client_id: UUID | None
    start: datetime
    end: datetime
    active: bool  # False: the owner no longer blocks its slot
    # A group session's seat: it claims its client only (the session claims the counselor
    # and the room; the constraints on those skip seats).
    group_session_id: UUID | None = None

    @property
    def resources(self) -> tuple[str, ...]:
        """What this claim holds, in the order a refusal names them."""
        if self.group_session_id is not None:
            return ("client",)
        held = ("counselor", "room") if self.room_id else ("counselor",)
        return (*held, "client") if self.client_id else held


def of_appointment(appointment: Appointment) -> Claim:
    return Claim(
        appointment.id,
        "appointment",
        appointment.site_id,
        appointment.counselor_id,
        appointment.room_id,
        appointment.client_id,
        appointment.start,
        appointment.end,
        active=appointment.status == "booked",
        group_session_id=appointment.group_session_id,
    )


def of_group_session(session: GroupSession) -> Claim:
    return Claim(
        session.id,
        "group_session",
        session.site_id,
        session.counselor_id,
        session.room_id,
        None,
        session.start,
        session.end,
        active=session.status == "booked",
    )


def of_hold(hold: Hold) -> Claim:
    return Claim(
        hold.id,
        "hold",
        hold.site_id,
        hold.counselor_id,
        hold.room_id,
        hold.client_id,
        hold.slot.start,
        hold.slot.end,
        active=hold.status == "held",
        group_session_id=hold.group_session_id,
    )


_COLUMNS = (
    "owner_id",
    "owner_kind",
    "site_id",
    "counselor_id",
    "room_id",
    "client_id",
    "start_at",
    "end_at",
    "group_session_id",
)
_UPSERT = f"""INSERT INTO slot_claims ({", ".join(_COLUMNS)})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (owner_id) DO UPDATE SET
               room_id = EXCLUDED.room_id, client_id = EXCLUDED.client_id,
               start_at = EXCLUDED.start_at, end_at = EXCLUDED.end_at"""


def _row(claim: Claim) -> tuple[object, ...]:
    """The values of `_COLUMNS`, in order."""
    return (
        claim.owner_id,
        claim.owner_kind,
        claim.site_id,
        claim.counselor_id,
        claim.room_id,
        claim.client_id,
        claim.start,
        claim.end,
        claim.group_session_id,
    )


async def sync(conn: Connection, claim: Claim) -> None:
    """Write or drop the claim. Raises `asyncpg.ExclusionViolationError` when it collides."""
    if not claim.active:
        await conn.execute("DELETE FROM slot_claims WHERE owner_id = $1", claim.owner_id)
        return
    await conn.execute(_UPSERT, *_row(claim))


async def insert_replayed(conn: Connection, claim: Claim) -> None:
    """A rebuild's `sync` into the emptied table: a live claim inserted (a rebuild's recorder
    copies them), none for an owner that no longer blocks its slot (nothing to delete)."""
    if claim.active:
        await conn.copy_records_to_table("slot_claims", records=(_row(claim),), columns=_COLUMNS)


@dataclass(frozen=True)
class Holder:
    owner_id: UUID
    owner_kind: str


async def holder_of(conn: Connection, resource: str, claim: Claim) -> Holder | None:
    """Who else claims `resource` (counselor, room or client) during `claim`'s slot. A group
    session's seats do not hold its counselor and room: the session's own claim does."""
    column = {"counselor": "counselor_id", "room": "room_id", "client": "client_id"}[resource]
    seats_skipped = "" if resource == "client" else " AND group_session_id IS NULL"
    row = await conn.fetchrow(
        f"""SELECT owner_id, owner_kind FROM slot_claims
            WHERE {column} = $1 AND owner_id <> $2{seats_skipped}
              AND tstzrange(start_at, end_at, '[)') && tstzrange($3, $4, '[)')
            ORDER BY start_at LIMIT 1""",
        getattr(claim, column),
        claim.owner_id,
        claim.start,
        claim.end,
    )
    return Holder(row["owner_id"], row["owner_kind"]) if row else None


async def in_window(
    conn: Connection, site_id: UUID, start: datetime, end: datetime
) -> list[tuple[UUID, UUID | None, datetime, datetime]]:
    """(counselor, room, start, end) of every claim at the site overlapping `[start, end)`."""
    rows = await conn.fetch(
        """SELECT counselor_id, room_id, start_at, end_at FROM slot_claims
           WHERE site_id = $1 AND start_at < $3 AND end_at > $2""",
        site_id,
        start,
        end,
    )
    return [(r["counselor_id"], r["room_id"], r["start_at"], r["end_at"]) for r in rows]


# `slot_claims`' exclusion constraints keep booked appointments and holds apart only if each
# booked appointment has its claim, same site, counselor, room, client and span, and no claim
# outlives its appointment's booking (`appointments`' own constraints catch an overlap of
# booked appointments, not a claim gone astray).
_UNMIRRORED = """
    SELECT coalesce(a.id, c.owner_id) AS id
    FROM (SELECT id, site_id, counselor_id, room_id, client_id, start_at, end_at,
                 group_session_id
          FROM appointments WHERE status = 'booked') a
    FULL JOIN (SELECT owner_id, site_id, counselor_id, room_id, client_id, start_at, end_at,
                      group_session_id
               FROM slot_claims WHERE owner_kind = 'appointment') c ON c.owner_id = a.id
    WHERE a.id IS NULL OR c.owner_id IS NULL
       OR (a.site_id, a.counselor_id, a.room_id, a.client_id, a.start_at, a.end_at,
           a.group_session_id)
          IS DISTINCT FROM (c.site_id, c.counselor_id, c.room_id, c.client_id, c.start_at,
                            c.end_at, c.group_session_id)
    ORDER BY 1 LIMIT $1"""


async def unmirrored(conn: Connection, limit: int = 10) -> list[UUID]:
    """Appointments (at most `limit`) whose booking and claim disagree: booked without its
    claim, claimed while not booked, or claimed for another counselor, room, client or span."""
    return [r["id"] for r in await conn.fetch(_UNMIRRORED, limit)]
