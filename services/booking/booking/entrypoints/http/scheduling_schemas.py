"""Bodies of the working-hours, booking-rules, availability and hold routes."""

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from booking.domain.scheduling import hours, rules
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.scheduling.holds import Hold, HoldStatus
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from counseling_shared.codes import Modality
from counseling_shared.http.bodies import CalendarDate, Instant, RequestBody

_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ClockTime = Annotated[str, Field(pattern=_CLOCK, description="Local wall-clock time, `HH:MM`.")]


def _time(text: str) -> time:
    return time.fromisoformat(text)


class WeeklyPeriodIn(RequestBody):
    weekday: int = Field(ge=1, le=7, description="ISO weekday: 1 Monday … 7 Sunday.")
    from_: ClockTime = Field(alias="from")
    to: ClockTime


class ExceptionIn(RequestBody):
    date: CalendarDate
    off: bool = Field(False, description="The counselor does not work that day.")
    from_: ClockTime | None = Field(None, alias="from")
    to: ClockTime | None = None


class WorkingHoursIn(RequestBody):
    weekly: list[WeeklyPeriodIn] = Field(max_length=hours.MAX_PERIODS)
    exceptions: list[ExceptionIn] = Field(
        default_factory=list,
        json_schema_extra={"default": []},  # a factory's default is not shown otherwise
        max_length=hours.MAX_PERIODS,
        description="Dated exceptions in the site's zone: `off`, or `from`/`to` periods that "
        "replace that day's weekly ones.",
    )

    def command(self) -> hours.SetWorkingHours:
        return hours.SetWorkingHours(
            weekly=tuple(
                hours.WeeklyPeriod(p.weekday, _time(p.from_), _time(p.to)) for p in self.weekly
            ),
            exceptions=tuple(
                hours.DateException(
                    e.date,
                    e.off,
                    _time(e.from_) if e.from_ else None,
                    _time(e.to) if e.to else None,
                )
                for e in self.exceptions
            ),
        )


class WeeklyPeriodOut(BaseModel):
    weekday: int
    from_: str = Field(serialization_alias="from")
    to: str


class ExceptionOut(BaseModel):
    date: date
    off: bool
    from_: str | None = Field(None, serialization_alias="from")
    to: str | None = None


class WorkingHoursOut(BaseModel):
    staff_id: UUID
    site_id: UUID
    weekly: list[WeeklyPeriodOut]
    exceptions: list[ExceptionOut]
    set_at: datetime

    @classmethod
    def of(cls, worked: hours.WorkingHours) -> "WorkingHoursOut":
        return cls(
            staff_id=worked.staff_id,
            site_id=worked.site_id,
            weekly=[
                WeeklyPeriodOut(
                    weekday=p.weekday, from_=p.start.strftime("%H:%M"), to=p.end.strftime("%H:%M")
                )
                for p in worked.weekly
            ],
            exceptions=[
                ExceptionOut(
                    date=e.on,
                    off=e.off,
                    from_=e.start.strftime("%H:%M") if e.start else None,
                    to=e.end.strftime("%H:%M") if e.end else None,
                )
                for e in worked.exceptions
            ],
            set_at=worked.set_at,
        )


class FeeIn(RequestBody):
    amount: Decimal = Field(gt=0, lt=Decimal("1e10"), decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. `EUR`.")


class BookingRulesIn(RequestBody):
    buffer_minutes: int = Field(
        0,
        ge=0,
        le=rules.MAX_BUFFER_MINUTES,
        description="Minutes kept free before and after each session in availability.",
    )
    missed_session_fee: FeeIn | None = Field(
        None,
        description="Owed (`fee_due`) after a late cancellation by the client or a no-show.",
    )
    client_reschedule: bool = Field(
        False,
        description="Extension: clients may move their own session to another free time of "
        "the same counselor from their reminder's link, until the late-cancellation window "
        "begins. Off by default.",
    )
    client_reschedule_days: int = Field(
        rules.DEFAULT_CLIENT_RESCHEDULE_DAYS,
        ge=rules.MIN_CLIENT_RESCHEDULE_DAYS,
        le=rules.MAX_CLIENT_RESCHEDULE_DAYS,
        description="Extension: how many days ahead (from now) the new time may be.",
    )

    def command(self) -> rules.SetBookingRules:
        fee = self.missed_session_fee
        return rules.SetBookingRules(
            self.buffer_minutes,
            rules.Fee(fee.amount, fee.currency) if fee else None,
            self.client_reschedule,
            self.client_reschedule_days,
        )


class FeeOut(BaseModel):
    amount: Decimal
    currency: str


class BookingRulesOut(BaseModel):
    site_id: UUID
    buffer_minutes: int
    missed_session_fee: FeeOut | None
    set_at: datetime
    client_reschedule: bool = Field(
        description="Extension: clients may move their own session from their reminder's link."
    )
    client_reschedule_days: int = Field(
        description="Extension: how many days ahead the client's new time may be."
    )

    @classmethod
    def of(cls, found: rules.BookingRules) -> "BookingRulesOut":
        fee = found.missed_session_fee
        return cls(
            site_id=found.site_id,
            buffer_minutes=found.buffer_minutes,
            missed_session_fee=FeeOut(amount=fee.amount, currency=fee.currency) if fee else None,
            set_at=found.set_at,
            client_reschedule=found.client_reschedule,
            client_reschedule_days=found.client_reschedule_days,
        )


class FreeSlotOut(BaseModel):
    counselor_id: UUID
    start: datetime
    end: datetime
    room_id: UUID | None = Field(None, description="In person: a free room.")

    @classmethod
    def of(cls, slot: FreeSlot) -> "FreeSlotOut":
        return cls(
            counselor_id=slot.counselor_id, start=slot.start, end=slot.end, room_id=slot.room_id
        )


class HoldIn(RequestBody):
    counselor_id: UUID
    client_id: UUID | None = Field(None, description="When named, only this client books it.")
    room_id: UUID | None = Field(None, description="Required for `in_person`.")
    start: Instant
    duration_minutes: int = Field(
        DEFAULT_SESSION_MINUTES, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES
    )
    modality: Modality


class HoldOut(BaseModel):
    id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID | None
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    expires_at: datetime
    status: HoldStatus
    appointment_id: UUID | None

    @classmethod
    def of(cls, hold: Hold) -> "HoldOut":
        return cls(
            id=hold.id,
            site_id=hold.site_id,
            counselor_id=hold.counselor_id,
            client_id=hold.client_id,
            room_id=hold.room_id,
            modality=hold.modality,
            start=hold.slot.start,
            end=hold.slot.end,
            expires_at=hold.expires_at,
            status=hold.status,
            appointment_id=hold.appointment_id,
        )
