"""Request and response bodies of booking's HTTP API (contract v1, plus extensions)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.client import Client, EpisodeStatus
from booking.domain.expected_fee import ExpectedFee
from booking.domain.room import Room
from booking.domain.scheduling.rules import Fee
from booking.domain.site import (
    DEFAULT_BOOKING_HORIZON_MONTHS,
    DEFAULT_LATE_CANCELLATION_WINDOW,
    DEFAULT_LOCALE,
    MAX_BOOKING_HORIZON_MONTHS,
    Site,
)
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from booking.domain.staff import StaffMember
from booking.entrypoints.http.checked_values import (
    EmailAddress,
    LocaleTag,
    PhoneNumber,
    TimeZoneName,
)
from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    GoalHorizon,
    Modality,
    RiskLevel,
    StaffRole,
)
from counseling_shared.http.bodies import CalendarDate, Instant, RequestBody

# --- sites -------------------------------------------------------------------------------


class SiteIn(RequestBody):
    name: str = Field(min_length=1, max_length=200, description="The site's public name.")
    timezone: TimeZoneName = Field(description="IANA time zone, e.g. `Asia/Seoul`.", max_length=64)
    locale: LocaleTag = Field(DEFAULT_LOCALE, description="BCP 47 default locale.", max_length=35)
    late_cancellation_window: str = Field(
        DEFAULT_LATE_CANCELLATION_WINDOW,
        max_length=32,
        description="ISO 8601 duration (weeks, days, hours, minutes, seconds): a cancellation "
        "less than this before the start is late.",
    )
    booking_horizon_months: int = Field(
        DEFAULT_BOOKING_HORIZON_MONTHS,
        ge=1,
        le=MAX_BOOKING_HORIZON_MONTHS,
        description="How far ahead sessions may be booked, in calendar months.",
    )


class SiteOut(BaseModel):
    id: UUID
    name: str
    timezone: str
    locale: str
    late_cancellation_window: str
    booking_horizon_months: int
    registered_at: datetime

    @classmethod
    def of(cls, site: Site) -> "SiteOut":
        return cls(
            id=site.id,
            name=site.name,
            timezone=site.timezone,
            locale=site.locale,
            late_cancellation_window=site.late_cancellation_window,
            booking_horizon_months=site.booking_horizon_months,
            registered_at=site.registered_at,
        )


# --- staff and rooms ---------------------------------------------------------------------


class StaffIn(RequestBody):
    site_id: UUID
    name: str = Field(min_length=1, max_length=200)
    role: StaffRole
    email: EmailAddress = Field(max_length=254)
    phone: PhoneNumber | None = Field(None, max_length=32)
    locale: LocaleTag | None = Field(None, max_length=35, description="Defaults to the site's.")


class StaffPatch(RequestBody):
    """What to change; a field left out stays as it is. Only `phone` may be null (removed)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailAddress | None = Field(None, max_length=254)
    phone: PhoneNumber | None = Field(None, max_length=32, description="null removes the phone.")
    locale: LocaleTag | None = Field(None, max_length=35, description="BCP 47 language tag.")

    @model_validator(mode="after")
    def _something_given(self) -> Self:
        nulls = sorted(
            name for name in self.model_fields_set - {"phone"} if getattr(self, name) is None
        )
        if nulls:
            raise ValueError(f"may be left out but not null: {', '.join(nulls)}")
        if not self.model_fields_set:
            raise ValueError("name at least one of name, email, phone, locale")
        return self


class StaffOut(BaseModel):
    id: UUID
    site_id: UUID
    name: str
    role: StaffRole
    email: str
    phone: str | None
    locale: str
    registered_at: datetime
    active: bool = Field(True, description="False once deactivated: never booked or paged.")
    deactivated_at: datetime | None = None

    @classmethod
    def of(cls, member: StaffMember) -> "StaffOut":
        return cls(
            id=member.id,
            site_id=member.site_id,
            name=member.name,
            role=member.role,
            email=member.email,
            phone=member.phone,
            locale=member.locale,
            registered_at=member.registered_at,
            active=member.active,
            deactivated_at=member.deactivated_at,
        )


class RoomIn(RequestBody):
    site_id: UUID
    name: str = Field(min_length=1, max_length=200)


class RoomOut(BaseModel):
    id: UUID
    site_id: UUID
    name: str
    registered_at: datetime

    @classmethod
    def of(cls, room: Room) -> "RoomOut":
        return cls(
            id=room.id, site_id=room.site_id, name=room.name, registered_at=room.registered_at
        )


# --- clients -----------------------------------------------------------------------------


class ClientIn(RequestBody):
    site_id: UUID
    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress | None = Field(None, max_length=254)
    phone: PhoneNumber | None = Field(None, max_length=32)
    locale: LocaleTag | None = Field(None, max_length=35, description="Defaults to the site's.")
    timezone: TimeZoneName | None = Field(
        None, max_length=64, description="Defaults to the site's."
    )
    preferred_channel: Channel = Field(
        description="`email` needs an email; `sms`, `phone` and `messaging` need a phone."
    )


class ClientPatch(RequestBody):
    """A correction: only the fields sent change. `email` and `phone` may be sent as null to
    clear them; the result must still have the address `preferred_channel` needs."""

    name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailAddress | None = Field(None, max_length=254)
    phone: PhoneNumber | None = Field(None, max_length=32)
    locale: LocaleTag | None = Field(None, max_length=35)
    timezone: TimeZoneName | None = Field(None, max_length=64)
    preferred_channel: Channel | None = None


class Referral(RequestBody):
    to: str = Field(min_length=1, max_length=500, description="Who the client was referred to.")
    contact: str = Field(min_length=1, max_length=500, description="How to reach them.")


class EpisodeOut(BaseModel):
    """The client's current episode of care."""

    number: int
    status: EpisodeStatus
    opened_at: datetime
    closed_at: datetime | None = None
    reason: ClosureReason | None = None
    effective_on: date | None = None
    referred: bool = False
    referral: Referral | None = None


class ClientOut(BaseModel):
    id: UUID
    site_id: UUID
    name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    preferred_channel: Channel
    registered_at: datetime
    episode: EpisodeOut

    @classmethod
    def of(cls, client: Client) -> "ClientOut":
        return cls(
            id=client.id,
            site_id=client.site_id,
            name=client.name,
            email=client.email,
            phone=client.phone,
            locale=client.locale,
            timezone=client.timezone,
            preferred_channel=client.preferred_channel,
            registered_at=client.registered_at,
            episode=episode_out(client),
        )


def episode_out(client: Client) -> EpisodeOut:
    episode = client.episode
    referral = episode.referral
    return EpisodeOut(
        number=episode.number,
        status=episode.status,
        opened_at=episode.opened_at,
        closed_at=episode.closed_at,
        reason=episode.reason,
        effective_on=episode.effective_on,
        referred=referral is not None,
        referral=Referral(to=referral.to, contact=referral.contact) if referral else None,
    )


class EpisodeCloseIn(RequestBody):
    reason: ClosureReason
    effective_on: CalendarDate
    referral: Referral | None = Field(
        None, description="Where the client was referred; kept in booking, never published."
    )


class EpisodeClosedOut(EpisodeOut):
    client_id: UUID
    site_id: UUID

    @classmethod
    def of(cls, client: Client) -> "EpisodeClosedOut":
        return cls(client_id=client.id, site_id=client.site_id, **episode_out(client).model_dump())


# --- appointments ------------------------------------------------------------------------


class AppointmentIn(RequestBody):
    """`start` at most 15 minutes in the past and within the site's booking horizon."""

    counselor_id: UUID = Field(description="A counselor, supervisor or site lead.")
    client_id: UUID
    room_id: UUID | None = Field(None, description="Required for `in_person`.")
    start: Instant = Field(description="RFC 3339 with an offset.")
    duration_minutes: int = Field(
        DEFAULT_SESSION_MINUTES, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES
    )
    modality: Modality
    hold_id: UUID | None = Field(
        None,
        description="A live hold (`POST /holds`) to turn into this appointment atomically; "
        "its counselor, room, modality, start and length must match (and its client, if it "
        "named one). An expired or used hold is a 409.",
    )
    allow_closed_site: bool = Field(
        False,
        description="An `admin` books on a day the site is closed anyway (audited as such); "
        "otherwise such a day is a 409 `site-closed`. Other keys: 403.",
    )


class RescheduleIn(RequestBody):
    start: Instant
    duration_minutes: int | None = Field(
        None, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES, description="Default: unchanged."
    )
    room_id: UUID | None = Field(None, description="Default: unchanged.")
    allow_closed_site: bool = Field(
        False,
        description="An `admin` books on a day the site is closed anyway (audited as such); "
        "otherwise such a day is a 409 `site-closed`. Other keys: 403.",
    )


class ExpectedFeeIn(RequestBody):
    amount: Decimal = Field(gt=0, lt=Decimal("1e10"), decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. `EUR`.")


EXPECTED_FEE = (
    "Extension: the fee the caller told the client this cancellation costs (`null`: no "
    "fee). When {marked} differs (the late window closed, or the site's fee changed, since "
    "the client was told), the answer is a 409 of type `fee-changed` whose `fee_due` is the "
    "fee that would apply, and nothing is cancelled. Absent: no such check."
)
"""`expected_fee`'s description; `{marked}` names the fee compared."""


class CancelIn(RequestBody):
    reason: str = Field(
        min_length=1, max_length=500, description="Kept in booking; never published."
    )
    cancelled_by: CancelledBy
    expected_fee: ExpectedFeeIn | None = Field(
        None,
        description=EXPECTED_FEE.format(marked="the fee the cancellation would mark (`fee_due`)"),
    )

    def expected(self) -> ExpectedFee | None:
        """The guard asked for: None when `expected_fee` is absent (`null` expects no fee)."""
        return expected_of(self, self.expected_fee)


def expected_of(body: RequestBody, fee: ExpectedFeeIn | None) -> ExpectedFee | None:
    if "expected_fee" not in body.model_fields_set:
        return None
    return ExpectedFee(Fee(fee.amount, fee.currency) if fee else None)


class CompleteIn(RequestBody):
    goal_horizon: GoalHorizon
    goals: list[Annotated[str, Field(max_length=2000)]] = Field(
        max_length=50, description="The session's goals; kept in booking, never published."
    )
    next_steps: str | None = Field(None, max_length=4000)
    risk_level: RiskLevel = RiskLevel.NONE


class FeeOut(BaseModel):
    amount: Decimal = Field(description="Decimal amount, e.g. `40.00`.")
    currency: str = Field(description="ISO 4217 code.")


class AppointmentOut(BaseModel):
    id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    duration_minutes: int
    status: AppointmentStatus
    booked_at: datetime
    late: bool | None = Field(None, description="Set when cancelled.")
    cancelled_by: CancelledBy | None = None
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    missed_at: datetime | None = None
    completed_at: datetime | None = None
    goal_horizon: GoalHorizon | None = None
    goals: list[str] | None = None
    next_steps: str | None = None
    risk_level: RiskLevel | None = None
    risk_flag_id: UUID | None = None
    fee_due: FeeOut | None = Field(
        None,
        description="Set when the client cancelled late or did not come and the site charges "
        "a `missed_session_fee`.",
    )
    confirmed_at: datetime | None = Field(
        None,
        description="Extension: when the client confirmed they will come (the signed link in"
        " their reminder); cleared by a reschedule.",
    )
    group_session_id: UUID | None = Field(
        None,
        description="Extension: the group session this appointment is a client's seat in "
        "(`POST /group-sessions/{id}/seats`); such a seat moves only with its group.",
    )

    @classmethod
    def of(cls, appointment: Appointment) -> "AppointmentOut":
        cancellation, session = appointment.cancellation, appointment.session
        return cls(
            id=appointment.id,
            site_id=appointment.site_id,
            client_id=appointment.client_id,
            counselor_id=appointment.counselor_id,
            room_id=appointment.room_id,
            modality=appointment.modality,
            start=appointment.start,
            end=appointment.end,
            duration_minutes=appointment.slot.minutes,
            status=appointment.status,
            booked_at=appointment.booked_at,
            late=cancellation.late if cancellation else None,
            cancelled_by=cancellation.cancelled_by if cancellation else None,
            cancel_reason=cancellation.reason if cancellation else None,
            cancelled_at=cancellation.cancelled_at if cancellation else None,
            missed_at=appointment.missed_at,
            completed_at=session.completed_at if session else None,
            goal_horizon=session.goal_horizon if session else None,
            goals=list(session.goals) if session else None,
            next_steps=session.next_steps if session else None,
            risk_level=session.risk_level if session else None,
            risk_flag_id=session.risk_flag_id if session else None,
            fee_due=FeeOut(amount=appointment.fee_due.amount, currency=appointment.fee_due.currency)
            if appointment.fee_due
            else None,
            confirmed_at=appointment.confirmed_at,
            group_session_id=appointment.group_session_id,
        )
