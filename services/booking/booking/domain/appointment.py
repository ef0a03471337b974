"""The Appointment aggregate: one session of a client with a counselor, maybe in a room.

Status moves `booked` → `cancelled` | `no_show` | `completed`, and only from `booked`.
A booked appointment may be confirmed by the client (`confirmed_at`) before it starts; a
reschedule clears that: the client confirmed the old time, not the new one.
Overlaps with other appointments are not decided here: they span aggregates, so PostgreSQL's
exclusion constraints on the appointments projection refuse them (see `SlotTaken`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from booking.domain.client import Client
from booking.domain.errors import NotAllowedNow, refuse_invalid
from booking.domain.room import Room
from booking.domain.scheduling.rules import Fee
from booking.domain.site import DEFAULT_BOOKING_HORIZON_MONTHS
from booking.domain.slots import (
    DEFAULT_SESSION_MINUTES,
    TimeSlot,
    is_late_cancellation,
    session_length_problem,
    start_problem,
)
from booking.domain.staff import StaffMember
from counseling_shared.codes import CancelledBy, GoalHorizon, Modality, RiskLevel
from counseling_shared.fast_replace import replace


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Cancellation:
    cancelled_by: CancelledBy
    late: bool
    reason: str  # stays in booking's database: never on the bus
    cancelled_at: datetime


@dataclass(frozen=True)
class SessionNotes:
    """What the counselor recorded at completion. Goals and next steps stay in booking."""

    completed_at: datetime
    goal_horizon: GoalHorizon
    goals: tuple[str, ...]
    next_steps: str | None
    risk_level: RiskLevel
    risk_flag_id: UUID | None


@dataclass(frozen=True)
class Appointment:
    """A session at one site: the counselor's, the client's and the room's sites agree."""

    id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    slot: TimeSlot
    status: AppointmentStatus
    booked_at: datetime
    version: int
    cancellation: Cancellation | None = None
    session: SessionNotes | None = None
    missed_at: datetime | None = None
    fee_due: Fee | None = None  # a missed session's fee, when the site charges one
    confirmed_at: datetime | None = None  # the client confirmed they will come
    group_session_id: UUID | None = None  # a seat of this group session

    @property
    def start(self) -> datetime:
        return self.slot.start

    @property
    def end(self) -> datetime:
        return self.slot.end


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BookAppointment:
    counselor_id: UUID
    client_id: UUID
    start: datetime
    modality: Modality
    room_id: UUID | None = None
    duration_minutes: int = DEFAULT_SESSION_MINUTES
    series_id: UUID | None = None  # booked by a series command (its events say so)
    group_session_id: UUID | None = None  # a seat of this group session
    group_series_id: UUID | None = None  # a seat taken by a group series' command


@dataclass(frozen=True)
class RescheduleAppointment:
    start: datetime
    duration_minutes: int | None = None
    room_id: UUID | None = None


@dataclass(frozen=True)
class CancelAppointment:
    reason: str
    cancelled_by: CancelledBy
    series_id: UUID | None = None  # cancelled by a series command (its events say so)
    group_series_id: UUID | None = None  # a seat cancelled by a group series' command


@dataclass(frozen=True)
class MarkNoShow:
    pass


@dataclass(frozen=True)
class CompleteSession:
    goal_horizon: GoalHorizon
    goals: tuple[str, ...]
    next_steps: str | None = None
    risk_level: RiskLevel = RiskLevel.NONE


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentBooked:
    appointment_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    booked_at: datetime
    series_id: UUID | None = None
    group_session_id: UUID | None = None
    group_series_id: UUID | None = None


@dataclass(frozen=True)
class AppointmentRescheduled:
    appointment_id: UUID
    room_id: UUID | None
    start: datetime
    end: datetime
    previous_start: datetime
    rescheduled_at: datetime


@dataclass(frozen=True)
class AppointmentCancelled:
    appointment_id: UUID
    cancelled_by: CancelledBy
    late: bool
    reason: str
    cancelled_at: datetime
    fee_due: Fee | None = None
    series_id: UUID | None = None
    group_series_id: UUID | None = None


@dataclass(frozen=True)
class AppointmentConfirmed:
    """The client said they will come (from the signed link in their reminder)."""

    appointment_id: UUID
    confirmed_at: datetime


@dataclass(frozen=True)
class SessionMarkedNoShow:
    appointment_id: UUID
    recorded_at: datetime
    fee_due: Fee | None = None


@dataclass(frozen=True)
class SessionCompleted:
    appointment_id: UUID
    completed_at: datetime
    goal_horizon: GoalHorizon
    goals: tuple[str, ...]
    next_steps: str | None
    risk_level: RiskLevel
    risk_flag_id: UUID | None  # set when the risk level calls for a crisis alert


AppointmentEvent = (
    AppointmentBooked
    | AppointmentRescheduled
    | AppointmentCancelled
    | SessionMarkedNoShow
    | SessionCompleted
    | AppointmentConfirmed
)


# --- decisions ---------------------------------------------------------------------------


def book(
    command: BookAppointment,
    appointment_id: UUID,
    counselor: StaffMember | None,
    client: Client | None,
    room: Room | None,
    now: datetime,
    horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS,
) -> list[AppointmentEvent]:
    """Book a session. The counselor's site is the appointment's site; the client and the
    room must be at that site. A room is required in person and optional otherwise."""
    check_booking(command, counselor, client, room, now, horizon_months)
    assert counselor is not None
    assert client is not None
    slot = TimeSlot.of(command.start, command.duration_minutes)
    return [
        AppointmentBooked(
            appointment_id=appointment_id,
            site_id=counselor.site_id,
            client_id=client.id,
            counselor_id=counselor.id,
            room_id=command.room_id,
            modality=command.modality,
            start=slot.start,
            end=slot.end,
            booked_at=now,
            series_id=command.series_id,
            group_session_id=command.group_session_id,
            group_series_id=command.group_series_id,
        )
    ]


def check_booking(
    command: BookAppointment,
    counselor: StaffMember | None,
    client: Client | None,
    room: Room | None,
    now: datetime,
    horizon_months: int,
    *,
    client_named: bool = True,
) -> None:
    """What `book` checks, for holds too (a hold may name no client: `client_named`)."""
    site_id = counselor.site_id if counselor is not None else None
    refuse_invalid(
        {
            "counselor_id": counselor_problem(counselor),
            "client_id": client_problem(client, site_id) if client_named else None,
            "room_id": room_problem(command.room_id, room, site_id, command.modality),
            "duration_minutes": session_length_problem(command.duration_minutes),
            "start": start_problem(command.start, now, horizon_months),
        }
    )


def reschedule(
    appointment: Appointment,
    command: RescheduleAppointment,
    room: Room | None,
    now: datetime,
    horizon_months: int = DEFAULT_BOOKING_HORIZON_MONTHS,
) -> list[AppointmentEvent]:
    """Move a booked session; the room stays unless a new one is named. A group session's
    seat moves only with its group (`move_with_group`)."""
    _require_booked(appointment, "rescheduled")
    if appointment.group_session_id is not None:
        raise NotAllowedNow(
            f"appointment {appointment.id} is a seat of group session "
            f"{appointment.group_session_id}; move the group instead"
        )
    minutes = (
        appointment.slot.minutes if command.duration_minutes is None else command.duration_minutes
    )
    room_id = appointment.room_id if command.room_id is None else command.room_id
    refuse_invalid(
        {
            "room_id": None
            if command.room_id is None
            else room_problem(command.room_id, room, appointment.site_id, appointment.modality),
            "duration_minutes": session_length_problem(minutes),
            "start": start_problem(command.start, now, horizon_months),
        }
    )
    slot = TimeSlot.of(command.start, minutes)
    return [
        AppointmentRescheduled(
            appointment_id=appointment.id,
            room_id=room_id,
            start=slot.start,
            end=slot.end,
            previous_start=appointment.start,
            rescheduled_at=now,
        )
    ]


def move_with_group(
    appointment: Appointment, slot: TimeSlot, room_id: UUID | None, now: datetime
) -> list[AppointmentEvent]:
    """A booked seat follows its group session to `slot` (and `room_id`); the group's own
    decision checked the time and the room."""
    _require_booked(appointment, "rescheduled")
    return [
        AppointmentRescheduled(
            appointment_id=appointment.id,
            room_id=room_id,
            start=slot.start,
            end=slot.end,
            previous_start=appointment.start,
            rescheduled_at=now,
        )
    ]


def cancel(
    appointment: Appointment,
    command: CancelAppointment,
    late_window: timedelta,
    now: datetime,
    missed_session_fee: Fee | None = None,
) -> list[AppointmentEvent]:
    """Cancel a booked session; `late` when inside the site's late-cancellation window. A
    late cancellation by the client owes the site's `missed_session_fee`, if it has one."""
    _require_booked(appointment, "cancelled")
    refuse_invalid({"reason": None if command.reason.strip() else "must not be blank"})
    late = is_late_cancellation(appointment.start, now, late_window)
    by_client = command.cancelled_by is CancelledBy.CLIENT
    return [
        AppointmentCancelled(
            appointment_id=appointment.id,
            cancelled_by=command.cancelled_by,
            late=late,
            reason=command.reason.strip(),
            cancelled_at=now,
            fee_due=missed_session_fee if late and by_client else None,
            series_id=command.series_id,
            group_series_id=command.group_series_id,
        )
    ]


def confirm(appointment: Appointment, now: datetime) -> list[AppointmentEvent]:
    """The client confirms a booked session before it starts; confirming again changes
    nothing (no event), so a link pressed twice records one confirmation."""
    _require_booked(appointment, "confirmed")
    if now >= appointment.start:
        raise NotAllowedNow(
            f"appointment {appointment.id} started at {appointment.start.isoformat()}; "
            "it can be confirmed only before its start"
        )
    if appointment.confirmed_at is not None:
        return []
    return [AppointmentConfirmed(appointment.id, now)]


def mark_no_show(
    appointment: Appointment, now: datetime, missed_session_fee: Fee | None = None
) -> list[AppointmentEvent]:
    """A no-show owes the site's `missed_session_fee`, if it has one."""
    _require_booked(appointment, "marked as a no-show")
    _require_started(appointment, now, "marked as a no-show")
    return [SessionMarkedNoShow(appointment.id, now, missed_session_fee)]


def complete(
    appointment: Appointment, command: CompleteSession, flag_id: UUID, now: datetime
) -> list[AppointmentEvent]:
    """Record the session. A risk of `moderate` or above gets `flag_id` for a crisis alert."""
    _require_booked(appointment, "completed")
    _require_started(appointment, now, "completed")
    refuse_invalid(
        {
            "goals": None
            if all(goal.strip() for goal in command.goals)
            else "goals must not be blank",
        }
    )
    return [
        SessionCompleted(
            appointment_id=appointment.id,
            completed_at=now,
            goal_horizon=command.goal_horizon,
            goals=tuple(goal.strip() for goal in command.goals),
            next_steps=command.next_steps,
            risk_level=command.risk_level,
            risk_flag_id=flag_id if command.risk_level.needs_alert else None,
        )
    ]


def _require_booked(appointment: Appointment, doing: str) -> None:
    if appointment.status is not AppointmentStatus.BOOKED:
        raise NotAllowedNow(
            f"appointment {appointment.id} is {appointment.status}; only a booked "
            f"appointment can be {doing}"
        )


def _require_started(appointment: Appointment, now: datetime, doing: str) -> None:
    if now < appointment.start:
        raise NotAllowedNow(
            f"appointment {appointment.id} starts at {appointment.start.isoformat()}; "
            f"it can be {doing} only from its start on"
        )


def counselor_problem(counselor: StaffMember | None) -> str | None:
    if counselor is None:
        return "no staff member with this id"
    if not counselor.holds_sessions:
        return f"a {counselor.role} does not hold sessions"
    if not counselor.active:
        return "this staff member is deactivated"
    return None


def client_problem(client: Client | None, site_id: UUID | None) -> str | None:
    if client is None:
        return "no client with this id"
    if site_id is not None and client.site_id != site_id:
        return "the client is registered at another site than the counselor's"
    return None


def room_problem(
    room_id: UUID | None, room: Room | None, site_id: UUID | None, modality: Modality
) -> str | None:
    if room_id is None:
        return "required for an in_person session" if modality is Modality.IN_PERSON else None
    if room is None:
        return "no room with this id"
    if site_id is not None and room.site_id != site_id:
        return "the room is at another site than the counselor's"
    return None


# --- state -------------------------------------------------------------------------------


def evolve(state: Appointment | None, event: AppointmentEvent) -> Appointment:
    if isinstance(event, AppointmentBooked):
        return Appointment(
            id=event.appointment_id,
            site_id=event.site_id,
            client_id=event.client_id,
            counselor_id=event.counselor_id,
            room_id=event.room_id,
            modality=event.modality,
            slot=TimeSlot(event.start, event.end),
            status=AppointmentStatus.BOOKED,
            booked_at=event.booked_at,
            version=1,
            group_session_id=event.group_session_id,
        )
    assert state is not None, f"{type(event).__name__} before AppointmentBooked"
    state = replace(state, version=state.version + 1)
    match event:
        case AppointmentRescheduled():
            return replace(
                state,
                slot=TimeSlot(event.start, event.end),
                room_id=event.room_id,
                confirmed_at=None,  # the confirmation was of the old time
            )
        case AppointmentConfirmed():
            return replace(state, confirmed_at=event.confirmed_at)
        case AppointmentCancelled():
            cancellation = Cancellation(
                event.cancelled_by, event.late, event.reason, event.cancelled_at
            )
            return replace(
                state,
                status=AppointmentStatus.CANCELLED,
                cancellation=cancellation,
                fee_due=event.fee_due,
            )
        case SessionMarkedNoShow():
            return replace(
                state,
                status=AppointmentStatus.NO_SHOW,
                missed_at=event.recorded_at,
                fee_due=event.fee_due,
            )
        case SessionCompleted():
            notes = SessionNotes(
                completed_at=event.completed_at,
                goal_horizon=event.goal_horizon,
                goals=event.goals,
                next_steps=event.next_steps,
                risk_level=event.risk_level,
                risk_flag_id=event.risk_flag_id,
            )
            return replace(state, status=AppointmentStatus.COMPLETED, session=notes)
