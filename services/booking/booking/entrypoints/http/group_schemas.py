"""Request and response bodies of group sessions (an extension of contract v1)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from booking.application.group_sessions import SeatedGroup
from booking.domain.appointment import AppointmentStatus
from booking.domain.group_session import MAX_CAPACITY, MIN_CAPACITY, GroupSessionStatus
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.http.bodies import Instant, RequestBody


class GroupSessionIn(RequestBody):
    """`start` at most 15 minutes in the past and within the site's booking horizon, as for
    an appointment. No name: a group is known by its counselor, room and time."""

    counselor_id: UUID = Field(description="A counselor, supervisor or site lead.")
    room_id: UUID | None = Field(None, description="Required for `in_person`.")
    start: Instant = Field(description="RFC 3339 with an offset.")
    duration_minutes: int = Field(
        DEFAULT_SESSION_MINUTES, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES
    )
    modality: Modality
    capacity: int = Field(
        ge=MIN_CAPACITY, le=MAX_CAPACITY, description="How many clients may take a seat."
    )
    allow_closed_site: bool = Field(
        False,
        description="Extension: an `admin` schedules it on a day the site is closed anyway "
        "(audited as such; its seats are then taken that day too); otherwise such a day is a "
        "409 `site-closed`. Other keys: 403.",
    )


class SeatIn(RequestBody):
    client_id: UUID = Field(description="A client of the group session's site.")


class GroupRescheduleIn(RequestBody):
    start: Instant
    duration_minutes: int | None = Field(
        None, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES, description="Default: unchanged."
    )
    room_id: UUID | None = Field(None, description="Default: unchanged.")
    allow_closed_site: bool = Field(
        False,
        description="Extension: an `admin` moves it onto a day the site is closed anyway "
        "(audited as such); otherwise such a day is a 409 `site-closed`. Other keys: 403.",
    )


class CapacityIn(RequestBody):
    capacity: int = Field(
        ge=MIN_CAPACITY,
        le=MAX_CAPACITY,
        description="The new number of seats; not below the seats taken (seated or held).",
    )


class GroupCancelIn(RequestBody):
    reason: str = Field(
        min_length=1, max_length=500, description="Kept in booking; never published."
    )
    cancelled_by: CancelledBy


class SeatOut(BaseModel):
    appointment_id: UUID = Field(description="The client's own appointment of this session.")
    client_id: UUID
    status: AppointmentStatus


class GroupSessionOut(BaseModel):
    id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    duration_minutes: int
    capacity: int
    status: GroupSessionStatus
    scheduled_at: datetime
    cancelled_by: CancelledBy | None = None
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    seats: list[SeatOut] = Field(
        description="Every seat not cancelled (booked, completed or missed), by booking time."
    )
    seats_left: int = Field(
        description="Seats anyone may take now: not seated, not held (0 once cancelled)."
    )
    seats_held: int = Field(
        0, description="Extension: seats held for open offers to the group's waitlist."
    )
    on_closed_day: bool = Field(
        False,
        description="Extension: an admin put it on a day the site is closed "
        "(`allow_closed_site`); its seats are taken and offered that day too.",
    )

    @classmethod
    def of(cls, group: SeatedGroup) -> "GroupSessionOut":
        session, cancellation = group.session, group.session.cancellation
        return cls(
            id=session.id,
            site_id=session.site_id,
            counselor_id=session.counselor_id,
            room_id=session.room_id,
            modality=session.modality,
            start=session.start,
            end=session.end,
            duration_minutes=session.slot.minutes,
            capacity=session.capacity,
            status=session.status,
            scheduled_at=session.scheduled_at,
            cancelled_by=cancellation.cancelled_by if cancellation else None,
            cancel_reason=cancellation.reason if cancellation else None,
            cancelled_at=cancellation.cancelled_at if cancellation else None,
            seats=[
                SeatOut(appointment_id=s.id, client_id=s.client_id, status=s.status)
                for s in group.seats
            ],
            seats_left=group.seats_left,
            seats_held=group.held,
            on_closed_day=session.on_closed_day,
        )
