"""The projection tables: one row per aggregate, written from its evolved state.

Commands load an aggregate from its row (`version` says where its stream stands) and save the
new state in the same transaction as the events. Saving the appointments row is where
PostgreSQL's exclusion constraints refuse a double booking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from booking.adapters import claims
from booking.domain.appointment import (
    Appointment,
    AppointmentStatus,
    Cancellation,
    SessionNotes,
)
from booking.domain.client import Client, Episode, EpisodeStatus, Referral
from booking.domain.room import Room
from booking.domain.scheduling.rules import Fee
from booking.domain.site import Site
from booking.domain.slots import TimeSlot
from booking.domain.staff import StaffMember
from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    GoalHorizon,
    Modality,
    RiskLevel,
    StaffRole,
)

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# --- sites -------------------------------------------------------------------------------


def site_from(row: asyncpg.Record) -> Site:
    return Site(
        id=row["id"],
        name=row["name"],
        timezone=row["timezone"],
        locale=row["locale"],
        late_cancellation_window=row["late_cancellation_window"],
        registered_at=row["registered_at"],
        version=row["version"],
        booking_horizon_months=row["booking_horizon_months"],
    )


async def load_site(conn: Connection, site_id: UUID) -> Site | None:
    row = await conn.fetchrow("SELECT * FROM sites WHERE id = $1", site_id)
    return site_from(row) if row else None


async def save_site(conn: Connection, site: Site) -> None:
    await conn.execute(
        """INSERT INTO sites (id, name, timezone, locale, late_cancellation_window,
                              registered_at, version, booking_horizon_months)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET
               name = EXCLUDED.name, timezone = EXCLUDED.timezone, locale = EXCLUDED.locale,
               late_cancellation_window = EXCLUDED.late_cancellation_window,
               booking_horizon_months = EXCLUDED.booking_horizon_months,
               version = EXCLUDED.version""",
        site.id,
        site.name,
        site.timezone,
        site.locale,
        site.late_cancellation_window,
        site.registered_at,
        site.version,
        site.booking_horizon_months,
    )


# --- staff -------------------------------------------------------------------------------


def staff_from(row: asyncpg.Record) -> StaffMember:
    return StaffMember(
        id=row["id"],
        site_id=row["site_id"],
        name=row["name"],
        role=StaffRole(row["role"]),
        email=row["email"],
        phone=row["phone"],
        locale=row["locale"],
        registered_at=row["registered_at"],
        version=row["version"],
        deactivated_at=row["deactivated_at"],
    )


async def load_staff_member(conn: Connection, staff_id: UUID) -> StaffMember | None:
    row = await conn.fetchrow("SELECT * FROM staff WHERE id = $1", staff_id)
    return staff_from(row) if row else None


BOOKING_PARTIES = """SELECT counselor, client, site.booking_horizon_months AS horizon,
                  site.timezone AS site_timezone, closed.closures AS site_closures
           FROM (SELECT) AS one
           LEFT JOIN staff AS counselor ON counselor.id = $1
           LEFT JOIN clients AS client ON client.id = $2
           LEFT JOIN sites AS site ON site.id = counselor.site_id
           LEFT JOIN site_closures AS closed ON closed.site_id = counselor.site_id"""
"""The counselor, the client, the counselor's site's booking horizon (months), zone and
closures, in one round trip instead of four: what every booking reads before it decides. One
row."""


def booking_parties_from(
    row: asyncpg.Record,
) -> tuple[StaffMember | None, Client | None, int | None]:
    counselor, the_client = row["counselor"], row["client"]
    return (
        staff_from(counselor) if counselor is not None else None,
        client_from(the_client) if the_client is not None else None,
        row["horizon"],
    )


async def save_staff_member(conn: Connection, member: StaffMember) -> None:
    await conn.execute(
        """INSERT INTO staff (id, site_id, name, role, email, phone, locale, registered_at,
                              version, deactivated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET
               name = EXCLUDED.name, role = EXCLUDED.role, email = EXCLUDED.email,
               phone = EXCLUDED.phone, locale = EXCLUDED.locale, version = EXCLUDED.version,
               deactivated_at = EXCLUDED.deactivated_at""",
        member.id,
        member.site_id,
        member.name,
        member.role.value,
        member.email,
        member.phone,
        member.locale,
        member.registered_at,
        member.version,
        member.deactivated_at,
    )


# --- rooms -------------------------------------------------------------------------------


def room_from(row: asyncpg.Record) -> Room:
    return Room(
        id=row["id"],
        site_id=row["site_id"],
        name=row["name"],
        registered_at=row["registered_at"],
        version=row["version"],
    )


async def load_room(conn: Connection, room_id: UUID) -> Room | None:
    row = await conn.fetchrow("SELECT * FROM rooms WHERE id = $1", room_id)
    return room_from(row) if row else None


async def save_room(conn: Connection, room: Room) -> None:
    await conn.execute(
        """INSERT INTO rooms (id, site_id, name, registered_at, version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version""",
        room.id,
        room.site_id,
        room.name,
        room.registered_at,
        room.version,
    )


# --- clients -----------------------------------------------------------------------------


def client_from(row: asyncpg.Record) -> Client:
    referral = (
        Referral(row["referral_to"], row["referral_contact"])
        if row["referral_to"] is not None
        else None
    )
    episode = Episode(
        number=row["episode_number"],
        status=EpisodeStatus(row["episode_status"]),
        opened_at=row["episode_opened_at"],
        closed_at=row["episode_closed_at"],
        reason=ClosureReason(row["closure_reason"]) if row["closure_reason"] else None,
        effective_on=row["closure_effective_on"],
        referral=referral,
    )
    return Client(
        id=row["id"],
        site_id=row["site_id"],
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        locale=row["locale"],
        timezone=row["timezone"],
        preferred_channel=Channel(row["preferred_channel"]),
        registered_at=row["registered_at"],
        episode=episode,
        version=row["version"],
    )


async def load_client(conn: Connection, client_id: UUID) -> Client | None:
    row = await conn.fetchrow("SELECT * FROM clients WHERE id = $1", client_id)
    return client_from(row) if row else None


async def save_client(conn: Connection, client: Client) -> None:
    episode = client.episode
    await conn.execute(
        """INSERT INTO clients (id, site_id, name, email, phone, locale, timezone,
                                preferred_channel, registered_at, episode_number,
                                episode_status, episode_opened_at, episode_closed_at,
                                closure_reason, closure_effective_on, referral_to,
                                referral_contact, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18)
           ON CONFLICT (id) DO UPDATE SET
               name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone,
               locale = EXCLUDED.locale, timezone = EXCLUDED.timezone,
               preferred_channel = EXCLUDED.preferred_channel,
               episode_number = EXCLUDED.episode_number,
               episode_status = EXCLUDED.episode_status,
               episode_opened_at = EXCLUDED.episode_opened_at,
               episode_closed_at = EXCLUDED.episode_closed_at,
               closure_reason = EXCLUDED.closure_reason,
               closure_effective_on = EXCLUDED.closure_effective_on,
               referral_to = EXCLUDED.referral_to, referral_contact = EXCLUDED.referral_contact,
               version = EXCLUDED.version""",
        client.id,
        client.site_id,
        client.name,
        client.email,
        client.phone,
        client.locale,
        client.timezone,
        client.preferred_channel.value,
        client.registered_at,
        episode.number,
        episode.status.value,
        episode.opened_at,
        episode.closed_at,
        episode.reason.value if episode.reason else None,
        episode.effective_on,
        episode.referral.to if episode.referral else None,
        episode.referral.contact if episode.referral else None,
        client.version,
    )


# --- appointments ------------------------------------------------------------------------

# The exclusion constraint that refused a booking, and the resource it protects.
RESOURCE_OF_CONSTRAINT = {
    "appointments_counselor_free": "counselor",
    "appointments_room_free": "room",
    "appointments_client_free": "client",
    "slot_claims_counselor_free": "counselor",
    "slot_claims_room_free": "room",
    "slot_claims_client_free": "client",
}


def appointment_from(row: asyncpg.Record) -> Appointment:
    cancellation = (
        Cancellation(
            cancelled_by=CancelledBy(row["cancelled_by"]),
            late=row["late"],
            reason=row["cancel_reason"],
            cancelled_at=row["cancelled_at"],
        )
        if row["cancelled_by"] is not None
        else None
    )
    session = (
        SessionNotes(
            completed_at=row["completed_at"],
            goal_horizon=GoalHorizon(row["goal_horizon"]),
            goals=tuple(row["goals"]),
            next_steps=row["next_steps"],
            risk_level=RiskLevel(row["risk_level"]),
            risk_flag_id=row["risk_flag_id"],
        )
        if row["completed_at"] is not None
        else None
    )
    return Appointment(
        id=row["id"],
        site_id=row["site_id"],
        client_id=row["client_id"],
        counselor_id=row["counselor_id"],
        room_id=row["room_id"],
        modality=Modality(row["modality"]),
        slot=TimeSlot(row["start_at"], row["end_at"]),
        status=AppointmentStatus(row["status"]),
        booked_at=row["booked_at"],
        version=row["version"],
        cancellation=cancellation,
        session=session,
        missed_at=row["missed_at"],
        fee_due=Fee(row["fee_amount"], row["fee_currency"])
        if row["fee_amount"] is not None
        else None,
        confirmed_at=row["confirmed_at"],
        group_session_id=row["group_session_id"],
    )


async def load_appointment(conn: Connection, appointment_id: UUID) -> Appointment | None:
    row = await conn.fetchrow("SELECT * FROM appointments WHERE id = $1", appointment_id)
    return appointment_from(row) if row else None


_APPOINTMENT_COLUMNS = """id, site_id, client_id, counselor_id, room_id, modality, start_at,
    end_at, status, booked_at, cancelled_by, late, cancel_reason, cancelled_at, missed_at,
    completed_at, goal_horizon, goals, next_steps, risk_level, risk_flag_id, version,
    fee_amount, fee_currency, confirmed_at, group_session_id"""
_APPOINTMENT_VALUES = """$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
    $17, $18, $19, $20, $21, $22, $23, $24, $25, $26"""


def _appointment_row(appointment: Appointment) -> tuple[object, ...]:
    """The values of `_APPOINTMENT_COLUMNS`, in order."""
    cancellation, session = appointment.cancellation, appointment.session
    return (
        appointment.id,
        appointment.site_id,
        appointment.client_id,
        appointment.counselor_id,
        appointment.room_id,
        appointment.modality.value,
        appointment.start,
        appointment.end,
        appointment.status.value,
        appointment.booked_at,
        cancellation.cancelled_by.value if cancellation else None,
        cancellation.late if cancellation else None,
        cancellation.reason if cancellation else None,
        cancellation.cancelled_at if cancellation else None,
        appointment.missed_at,
        session.completed_at if session else None,
        session.goal_horizon.value if session else None,
        list(session.goals) if session else None,
        session.next_steps if session else None,
        session.risk_level.value if session else None,
        session.risk_flag_id if session else None,
        appointment.version,
        appointment.fee_due.amount if appointment.fee_due else None,
        appointment.fee_due.currency if appointment.fee_due else None,
        appointment.confirmed_at,
        appointment.group_session_id,
    )


async def save_appointment(conn: Connection, appointment: Appointment) -> None:
    """Upsert the row. Raises `asyncpg.ExclusionViolationError` on a double booking."""
    await conn.execute(
        f"""INSERT INTO appointments ({_APPOINTMENT_COLUMNS})
           VALUES ({_APPOINTMENT_VALUES})
           ON CONFLICT (id) DO UPDATE SET
               room_id = EXCLUDED.room_id, start_at = EXCLUDED.start_at,
               end_at = EXCLUDED.end_at, status = EXCLUDED.status,
               cancelled_by = EXCLUDED.cancelled_by, late = EXCLUDED.late,
               cancel_reason = EXCLUDED.cancel_reason, cancelled_at = EXCLUDED.cancelled_at,
               missed_at = EXCLUDED.missed_at, completed_at = EXCLUDED.completed_at,
               goal_horizon = EXCLUDED.goal_horizon, goals = EXCLUDED.goals,
               next_steps = EXCLUDED.next_steps, risk_level = EXCLUDED.risk_level,
               risk_flag_id = EXCLUDED.risk_flag_id, version = EXCLUDED.version,
               fee_amount = EXCLUDED.fee_amount, fee_currency = EXCLUDED.fee_currency,
               confirmed_at = EXCLUDED.confirmed_at""",
        *_appointment_row(appointment),
    )
    await claims.sync(conn, claims.of_appointment(appointment))


_APPOINTMENT_COLUMN_NAMES = tuple(" ".join(_APPOINTMENT_COLUMNS.split()).split(", "))


async def save_replayed_appointment(conn: Connection, appointment: Appointment) -> None:
    """A rebuild's save, into the emptied tables: the row and its claim (a cancelled or
    missed appointment has none) as plain inserts, which a rebuild's recorder turns into one
    COPY per table (`batched_writes`). Once per appointment, from its final state: a second
    save of one appointment would be refused by the primary key."""
    await conn.copy_records_to_table(
        "appointments", records=(_appointment_row(appointment),), columns=_APPOINTMENT_COLUMN_NAMES
    )
    await claims.insert_replayed(conn, claims.of_appointment(appointment))


BOOKED_CTES = f"""booked AS (
               INSERT INTO appointments ({_APPOINTMENT_COLUMNS})
               VALUES ({_APPOINTMENT_VALUES})
               ON CONFLICT DO NOTHING
               RETURNING id, site_id, counselor_id, room_id, client_id, start_at, end_at,
                         group_session_id
           ), claimed AS (
               INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, room_id,
                                        client_id, start_at, end_at, group_session_id)
               SELECT id, 'appointment', site_id, counselor_id, room_id, client_id,
                      start_at, end_at, group_session_id
               FROM booked
               ON CONFLICT DO NOTHING
               RETURNING owner_id
           )"""
"""A new booked appointment and its slot claim (`booked_values`, from `$1`), as common table
expressions; `BOOKED_WRITTEN` says whether both went in. For a statement writing more."""
BOOKED_WRITTEN = "EXISTS (SELECT FROM claimed)"
BOOKED_PARAMETERS = 26


def booked_values(appointment: Appointment) -> tuple[object, ...]:
    assert appointment.status == AppointmentStatus.BOOKED
    return _appointment_row(appointment)


async def insert_booked_appointment(conn: Connection, appointment: Appointment) -> bool:
    """Insert a new booked appointment and its slot claim in one statement; False when an
    overlap (with an appointment or a hold) refused it and nothing was written.

    `ON CONFLICT DO NOTHING` answers the exclusion constraints without an error, so the
    transaction stays usable and needs no savepoint around the insert: one round trip
    instead of four on the booking path. If the appointment row goes in but its claim
    collides with a hold, the caller's refusal rolls the appointment row back.
    """
    written: bool = await conn.fetchval(
        f"WITH {BOOKED_CTES} SELECT {BOOKED_WRITTEN}", *booked_values(appointment)
    )
    return written


async def find_booked_overlap(
    conn: Connection, resource: str, appointment: Appointment
) -> UUID | None:
    """The booked appointment holding `resource` during `appointment`'s slot, if any."""
    column = {"counselor": "counselor_id", "room": "room_id", "client": "client_id"}[resource]
    holder = getattr(appointment, column)
    found: UUID | None = await conn.fetchval(
        f"""SELECT id FROM appointments
            WHERE {column} = $1 AND status = 'booked' AND id <> $2
              AND tstzrange(start_at, end_at, '[)') && tstzrange($3, $4, '[)')
            ORDER BY start_at LIMIT 1""",
        holder,
        appointment.id,
        appointment.start,
        appointment.end,
    )
    return found
