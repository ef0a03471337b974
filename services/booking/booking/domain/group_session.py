"""The GroupSession aggregate: one counselor (maybe in a room) with up to 15 clients at once.

The session holds the counselor's and the room's time, as an appointment does. Each client
takes a seat: an ordinary `Appointment` naming the session (`group_session_id`), which holds
only that client's time, so notices, follow-ups and records stay per client. Seats are not
events of this stream: they are the seats' own appointments, counted under a row lock on the
session when a seat is taken (`check_seat`), so concurrent requests never overfill it.

Status moves `booked` → `cancelled`, and only from `booked`.

A full group has a waitlist: its entries are ordinary waitlist entries naming the session.
A seat offered to one of them is held (a hold naming the session) until accepted or expired,
and counts as taken meanwhile (`held`), so nobody else takes it and the group never overfills.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from booking.domain import appointment
from booking.domain.appointment import BookAppointment
from booking.domain.errors import DomainError, NotAllowedNow, refuse_invalid
from booking.domain.room import Room
from booking.domain.site import DEFAULT_BOOKING_HORIZON_MONTHS
from booking.domain.slots import (
    DEFAULT_SESSION_MINUTES,
    TimeSlot,
    session_length_problem,
    start_problem,
)
from booking.domain.staff import StaffMember
from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.fast_replace import replace

MIN_CAPACITY = 2
MAX_CAPACITY = 15


class GroupSessionStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class GroupCancellation:
    cancelled_by: CancelledBy
    reason: str  # stays in booking's database: never on the bus
    cancelled_at: datetime


@dataclass(frozen=True)
class GroupSession:
    id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    slot: TimeSlot
    capacity: int
    status: GroupSessionStatus
    scheduled_at: datetime
    version: int
    cancellation: GroupCancellation | None = None
    # An admin scheduled (or moved) it on a day its site is closed, on purpose: its seats
    # are taken and offered that day too.
    on_closed_day: bool = False

    @property
    def start(self) -> datetime:
        return self.slot.start

    @property
    def end(self) -> datetime:
        return self.slot.end


class GroupFull(NotAllowedNow):
    """Every seat of the session is taken (409 `group_full`)."""


class AlreadySeated(NotAllowedNow):
    """The client already has a seat in this session (409)."""


class AlreadyWaiting(NotAllowedNow):
    """The client already waits for a seat in this session (409)."""


class SeatsFree(NotAllowedNow):
    """A seat is free: the client takes it instead of waiting (409 `seats_free`)."""


class CapacityBelowTaken(NotAllowedNow):
    """The new capacity is below the seats taken (409 `capacity_below_seated`)."""

    def __init__(self, session_id: UUID, capacity: int, seated: int, held: int) -> None:
        held_text = f" and {held} held for waitlist offers" if held else ""
        super().__init__(
            f"group session {session_id} cannot have {capacity} seats: {seated} clients are "
            f"seated{held_text}"
        )
        self.seated = seated
        self.held = held


@dataclass(frozen=True)
class GroupConflict:
    """Who holds the counselor, the room or a seated client (`client_id`) at the new time."""

    resource: str  # counselor | room | client
    client_id: UUID | None
    conflicting_appointment_id: UUID | None = None
    conflicting_hold_id: UUID | None = None
    conflicting_group_session_id: UUID | None = None


class GroupConflicts(DomainError):
    """A group cannot move: each conflict named (409); nothing moved."""

    def __init__(self, conflicts: list[GroupConflict]) -> None:
        names = ", ".join(
            c.resource if c.client_id is None else f"client {c.client_id}" for c in conflicts
        )
        super().__init__(f"the group session cannot move: {names} taken at that time")
        self.conflicts = conflicts


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleGroupSession:
    counselor_id: UUID
    start: datetime
    modality: Modality
    capacity: int
    room_id: UUID | None = None
    duration_minutes: int = DEFAULT_SESSION_MINUTES


@dataclass(frozen=True)
class RescheduleGroupSession:
    start: datetime
    duration_minutes: int | None = None
    room_id: UUID | None = None


@dataclass(frozen=True)
class CancelGroupSession:
    reason: str
    cancelled_by: CancelledBy


@dataclass(frozen=True)
class ChangeCapacity:
    capacity: int


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSessionScheduled:
    group_session_id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    capacity: int
    scheduled_at: datetime
    on_closed_day: bool = False  # an admin's `allow_closed_site` let it onto a closed day


@dataclass(frozen=True)
class GroupSessionRescheduled:
    group_session_id: UUID
    room_id: UUID | None
    start: datetime
    end: datetime
    previous_start: datetime
    rescheduled_at: datetime
    on_closed_day: bool = False


@dataclass(frozen=True)
class GroupSessionCancelled:
    group_session_id: UUID
    cancelled_by: CancelledBy
    reason: str
    cancelled_at: datetime


@dataclass(frozen=True)
class GroupCapacityChanged:
    group_session_id: UUID
    capacity: int
    previous_capacity: int
    changed_at: datetime


GroupSessionEvent = (
    GroupSessionScheduled | GroupSessionRescheduled | GroupSessionCancelled | GroupCapacityChanged
)


# --- decisions ---------------------------------------------------------------------------


def schedule(
    command: ScheduleGroupSession,
    group_session_id: UUID,
    counselor: StaffMember | None,
    room: Room | None,
    now: datetime,
    horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS,
) -> list[GroupSessionEvent]:
    """Schedule a group at the counselor's site; the room (required in person) is there too.
    Length and start follow the appointments' rules."""
    refuse_invalid(
        {
            "counselor_id": appointment.counselor_problem(counselor),
            "room_id": appointment.room_problem(
                command.room_id,
                room,
                counselor.site_id if counselor else None,
                command.modality,
            ),
            "duration_minutes": session_length_problem(command.duration_minutes),
            "start": start_problem(command.start, now, horizon_months),
            "capacity": capacity_problem(command.capacity),
        }
    )
    assert counselor is not None
    slot = TimeSlot.of(command.start, command.duration_minutes)
    return [
        GroupSessionScheduled(
            group_session_id=group_session_id,
            site_id=counselor.site_id,
            counselor_id=counselor.id,
            room_id=command.room_id,
            modality=command.modality,
            start=slot.start,
            end=slot.end,
            capacity=command.capacity,
            scheduled_at=now,
        )
    ]


def capacity_problem(capacity: int) -> str | None:
    if MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        return None
    return f"must be between {MIN_CAPACITY} and {MAX_CAPACITY} clients"


def check_seat(
    session: GroupSession, client_id: UUID, seated: Collection[UUID], held: int = 0
) -> None:
    """Whether `client_id` may take a seat, given the clients holding one now (`seated`:
    every seat not cancelled) and the seats held for open waitlist offers (`held`), both
    read under the session's row lock."""
    _require_booked(session, "given a new seat")
    if client_id in seated:
        raise AlreadySeated(f"client {client_id} already has a seat in group session {session.id}")
    if len(seated) + held >= session.capacity:
        raise GroupFull(f"group session {session.id} is full: {session.capacity} seats taken")


def check_joins_waitlist(
    session: GroupSession,
    client_id: UUID,
    seated: Collection[UUID],
    held: int,
    waiting: Collection[UUID],
) -> None:
    """Whether `client_id` may wait for a seat: the session is booked, full (seats held for
    offers count as taken), and the client neither seated nor waiting already."""
    _require_booked(session, "waited for")
    if client_id in seated:
        raise AlreadySeated(f"client {client_id} already has a seat in group session {session.id}")
    if client_id in waiting:
        raise AlreadyWaiting(
            f"client {client_id} already waits for a seat in group session {session.id}"
        )
    if len(seated) + held < session.capacity:
        raise SeatsFree(f"group session {session.id} has a free seat: take it instead of waiting")


def change_capacity(
    session: GroupSession, command: ChangeCapacity, seated: int, held: int, now: datetime
) -> list[GroupSessionEvent]:
    """Raise or lower the seats; never below the seats taken (seated or held for an offer).
    The same capacity records nothing."""
    _require_booked(session, "resized")
    refuse_invalid({"capacity": capacity_problem(command.capacity)})
    if command.capacity < seated + held:
        raise CapacityBelowTaken(session.id, command.capacity, seated, held)
    if command.capacity == session.capacity:
        return []
    return [GroupCapacityChanged(session.id, command.capacity, session.capacity, now)]


def seat_booking(
    session: GroupSession, client_id: UUID, group_series_id: UUID | None = None
) -> BookAppointment:
    """The appointment a seat is: the session's counselor, room, modality and time.
    `group_series_id`: taken by that recurring group's seat command (its events say so)."""
    return BookAppointment(
        counselor_id=session.counselor_id,
        client_id=client_id,
        start=session.start,
        modality=session.modality,
        room_id=session.room_id,
        duration_minutes=session.slot.minutes,
        group_session_id=session.id,
        group_series_id=group_series_id,
    )


def seats_left(session: GroupSession, seated: int, held: int = 0) -> int:
    """Seats anyone may take now: not seated, not held for a waitlist offer."""
    if session.status is not GroupSessionStatus.BOOKED:
        return 0
    return max(session.capacity - seated - held, 0)


def reschedule(
    session: GroupSession,
    command: RescheduleGroupSession,
    room: Room | None,
    now: datetime,
    horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS,
) -> list[GroupSessionEvent]:
    """Move the session; the room stays unless a new one is named. Its seats move with it
    (the caller moves each seat's appointment in the same transaction)."""
    _require_booked(session, "rescheduled")
    minutes = session.slot.minutes if command.duration_minutes is None else command.duration_minutes
    refuse_invalid(
        {
            "room_id": None
            if command.room_id is None
            else appointment.room_problem(command.room_id, room, session.site_id, session.modality),
            "duration_minutes": session_length_problem(minutes),
            "start": start_problem(command.start, now, horizon_months),
        }
    )
    slot = TimeSlot.of(command.start, minutes)
    return [
        GroupSessionRescheduled(
            group_session_id=session.id,
            room_id=session.room_id if command.room_id is None else command.room_id,
            start=slot.start,
            end=slot.end,
            previous_start=session.start,
            rescheduled_at=now,
        )
    ]


def cancel(
    session: GroupSession, command: CancelGroupSession, now: datetime
) -> list[GroupSessionEvent]:
    """Cancel the session (the caller cancels each booked seat in the same transaction)."""
    _require_booked(session, "cancelled")
    refuse_invalid(cancellation_problems(command))
    return [GroupSessionCancelled(session.id, command.cancelled_by, command.reason.strip(), now)]


def cancellation_problems(command: CancelGroupSession) -> dict[str, str | None]:
    """A group is cancelled by the center or its counselor, never by a client: each seat would
    be cancelled as that client's late cancellation, charging every seated client the site's
    fee for one person's call. A client leaves by cancelling their own seat."""
    return {
        "reason": None if command.reason.strip() else "must not be blank",
        "cancelled_by": "a client cancels their own seat (POST /appointments/{id}/cancel), "
        "never the whole group"
        if command.cancelled_by is CancelledBy.CLIENT
        else None,
    }


def _require_booked(session: GroupSession, doing: str) -> None:
    if session.status is not GroupSessionStatus.BOOKED:
        raise NotAllowedNow(
            f"group session {session.id} is {session.status}; only a booked group session "
            f"can be {doing}"
        )


# --- state -------------------------------------------------------------------------------


def evolve(state: GroupSession | None, event: GroupSessionEvent) -> GroupSession:
    if isinstance(event, GroupSessionScheduled):
        return GroupSession(
            id=event.group_session_id,
            site_id=event.site_id,
            counselor_id=event.counselor_id,
            room_id=event.room_id,
            modality=event.modality,
            slot=TimeSlot(event.start, event.end),
            capacity=event.capacity,
            status=GroupSessionStatus.BOOKED,
            scheduled_at=event.scheduled_at,
            version=1,
            on_closed_day=event.on_closed_day,
        )
    assert state is not None, f"{type(event).__name__} before GroupSessionScheduled"
    state = replace(state, version=state.version + 1)
    match event:
        case GroupSessionRescheduled():
            return replace(
                state,
                slot=TimeSlot(event.start, event.end),
                room_id=event.room_id,
                on_closed_day=event.on_closed_day,
            )
        case GroupSessionCancelled():
            cancellation = GroupCancellation(event.cancelled_by, event.reason, event.cancelled_at)
            return replace(state, status=GroupSessionStatus.CANCELLED, cancellation=cancellation)
        case GroupCapacityChanged():
            return replace(state, capacity=event.capacity)
