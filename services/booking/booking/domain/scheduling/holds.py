"""The Hold aggregate: a slot kept for a while (`HOLD_TTL`) so an integration can finish a
booking, or so a waitlist offer can be accepted.

A live hold claims its counselor, room and client in the same table and by the same exclusion
constraints as a booked appointment (`slot_claims`): the database, not this module, keeps two
claims off one slot.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from booking.domain.errors import NotAllowedNow, refuse_invalid
from booking.domain.slots import TimeSlot
from counseling_shared.codes import Modality


class HoldStatus(StrEnum):
    HELD = "held"
    BOOKED = "booked"
    EXPIRED = "expired"


class ReleaseReason(StrEnum):
    EXPIRED = "expired"
    BOOKED = "booked"


@dataclass(frozen=True)
class Hold:
    id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID | None
    room_id: UUID | None
    modality: Modality
    slot: TimeSlot
    placed_at: datetime
    expires_at: datetime
    status: HoldStatus
    version: int
    appointment_id: UUID | None = None
    released_at: datetime | None = None
    # A seat of this group session held for a waitlist offer: it claims only its client.
    group_session_id: UUID | None = None

    def is_live(self, now: datetime) -> bool:
        return self.status is HoldStatus.HELD and now < self.expires_at


@dataclass(frozen=True)
class HoldPlaced:
    hold_id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID | None
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    placed_at: datetime
    expires_at: datetime
    group_session_id: UUID | None = None


@dataclass(frozen=True)
class HoldReleased:
    hold_id: UUID
    reason: ReleaseReason
    released_at: datetime
    appointment_id: UUID | None = None


HoldEvent = HoldPlaced | HoldReleased


def place(
    hold_id: UUID,
    site_id: UUID,
    counselor_id: UUID,
    client_id: UUID | None,
    room_id: UUID | None,
    modality: Modality,
    slot: TimeSlot,
    now: datetime,
    expires_at: datetime,
    group_session_id: UUID | None = None,
) -> list[HoldEvent]:
    """Who and where were checked like a booking's (`appointment.book`) by the caller."""
    return [
        HoldPlaced(
            hold_id,
            site_id,
            counselor_id,
            client_id,
            room_id,
            modality,
            slot.start,
            slot.end,
            now,
            expires_at,
            group_session_id,
        )
    ]


@dataclass(frozen=True)
class Booking:
    """What `POST /appointments` asks for, compared with the hold it names."""

    counselor_id: UUID
    client_id: UUID
    room_id: UUID | None
    modality: Modality
    slot: TimeSlot


class HoldExpired(NotAllowedNow):
    """The hold is gone (expired, or already turned into an appointment)."""


def consume(hold: Hold, booking: Booking, appointment_id: UUID, now: datetime) -> list[HoldEvent]:
    """Turn the hold into the appointment: only while live, and only for its own slot."""
    if hold.status is HoldStatus.BOOKED:
        raise HoldExpired(
            f"hold {hold.id} was already turned into appointment {hold.appointment_id}"
        )
    if not hold.is_live(now):
        raise HoldExpired(f"hold {hold.id} expired at {hold.expires_at.isoformat()}")
    mismatch = "does not match the hold"
    refuse_invalid(
        {
            "counselor_id": None if booking.counselor_id == hold.counselor_id else mismatch,
            "client_id": None if hold.client_id in (None, booking.client_id) else mismatch,
            "room_id": None if booking.room_id == hold.room_id else mismatch,
            "modality": None if booking.modality == hold.modality else mismatch,
            "start": None if booking.slot == hold.slot else "the slot does not match the hold's",
        }
    )
    return [HoldReleased(hold.id, ReleaseReason.BOOKED, now, appointment_id)]


def expire(hold: Hold, now: datetime) -> list[HoldEvent]:
    if hold.status is not HoldStatus.HELD:
        return []
    return [HoldReleased(hold.id, ReleaseReason.EXPIRED, now)]


def evolve(state: Hold | None, event: HoldEvent) -> Hold:
    match event:
        case HoldPlaced():
            return Hold(
                id=event.hold_id,
                site_id=event.site_id,
                counselor_id=event.counselor_id,
                client_id=event.client_id,
                room_id=event.room_id,
                modality=event.modality,
                slot=TimeSlot(event.start, event.end),
                placed_at=event.placed_at,
                expires_at=event.expires_at,
                status=HoldStatus.HELD,
                version=1,
                group_session_id=event.group_session_id,
            )
        case HoldReleased():
            assert state is not None, "HoldReleased before HoldPlaced"
            status = (
                HoldStatus.BOOKED if event.reason is ReleaseReason.BOOKED else HoldStatus.EXPIRED
            )
            return replace(
                state,
                status=status,
                appointment_id=event.appointment_id,
                released_at=event.released_at,
                version=state.version + 1,
            )
