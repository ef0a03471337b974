"""Recurring series (contract v2: `POST /appointment-series` and its cancel)."""

from datetime import date, datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from booking.adapters import series_store
from booking.application import series as series_app
from booking.domain import appointment
from booking.domain.errors import UnknownAggregate
from booking.domain.scheduling.closures import ClosureKind
from booking.domain.scheduling.series import MAX_OCCURRENCES, SkippedOccurrence
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from booking.entrypoints.http.closures import closed_site_override
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.schemas import (
    EXPECTED_FEE,
    AppointmentOut,
    ExpectedFeeIn,
    expected_of,
)
from booking.entrypoints.policies import offer_policy
from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.http.bodies import CalendarDate, Instant, RequestBody
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses

router = APIRouter(route_class=BookingRoute, tags=["appointment series"])


class SeriesIn(RequestBody):
    counselor_id: UUID
    client_id: UUID
    room_id: UUID | None = Field(None, description="Required for `in_person`.")
    start: Instant = Field(
        description="The first start; its local time in the site's zone "
        "is kept for every occurrence."
    )
    duration_minutes: int = Field(
        DEFAULT_SESSION_MINUTES, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES
    )
    modality: Modality
    rrule: str = Field(
        max_length=200,
        description="RFC 5545 subset: `FREQ=WEEKLY` or `MONTHLY`, `INTERVAL`, `COUNT` or "
        "`UNTIL` (a date, or a UTC time), `BYDAY`; at most "
        f"{MAX_OCCURRENCES} occurrences, e.g. `FREQ=WEEKLY;COUNT=10;BYDAY=TU`.",
    )
    allow_closed_site: bool = Field(
        False,
        description="An `admin` books occurrences on days the site is closed anyway (audited "
        "as such); otherwise each such occurrence is a conflict (`reason` `site_closed`). "
        "Other keys: 403.",
    )
    skip_closed: bool = Field(
        False,
        description="Extension: leave out the occurrences that fall on a day the site is closed "
        "instead of refusing the series; the answer lists them (`skipped_occurrences`). "
        "`COUNT` then counts the occurrences booked, so the series runs on past the closed "
        "dates; `UNTIL` keeps its last date. Every occurrence closed: still 409. Any other "
        "conflict still refuses the series. Not with `allow_closed_site` (422).",
    )


class SeriesCancelIn(RequestBody):
    from_: CalendarDate | None = Field(
        None,
        alias="from",
        description="Cancel the occurrences on this date (site's zone) and after; default today.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Kept in booking.")
    cancelled_by: CancelledBy
    expected_fee: ExpectedFeeIn | None = Field(
        None,
        description=EXPECTED_FEE.format(
            marked="the fees the cancelled occurrences would mark, added up"
        ),
    )


class SkippedOccurrenceOut(BaseModel):
    """A date of the rule left out because the site is closed that day."""

    start: datetime = Field(description="The start the rule gave that date.")
    reason: str = Field(description="`site_closed`.")
    closed_on: date = Field(description="The closed local date of the site (its zone).")
    closure_kind: ClosureKind

    @classmethod
    def of(cls, skipped: SkippedOccurrence) -> "SkippedOccurrenceOut":
        return cls(
            start=skipped.start,
            reason=skipped.reason,
            closed_on=skipped.closed_on,
            closure_kind=ClosureKind(skipped.closure_kind),
        )


SKIPPED = (
    "Extension: the rule's dates left out because the site is closed then (`skip_closed`), "
    "in order; empty when none was."
)


class SeriesOut(BaseModel):
    id: UUID
    site_id: UUID
    counselor_id: UUID
    client_id: UUID
    rrule: str
    timezone: str
    cancelled_from: str | None
    appointments: list[AppointmentOut]
    skipped_occurrences: list[SkippedOccurrenceOut] = Field(description=SKIPPED)

    @classmethod
    def of(cls, booked: series_app.BookedSeries) -> "SeriesOut":
        s = booked.series
        return cls(
            id=s.id,
            site_id=s.site_id,
            counselor_id=s.counselor_id,
            client_id=s.client_id,
            rrule=s.rrule,
            timezone=s.timezone,
            cancelled_from=s.cancelled_from.isoformat() if s.cancelled_from else None,
            appointments=[AppointmentOut.of(a) for a in booked.appointments],
            skipped_occurrences=[SkippedOccurrenceOut.of(k) for k in s.skipped],
        )


@router.post(
    "/appointment-series",
    status_code=201,
    responses=problem_responses(
        s409="Some occurrences are taken or on a day the site is closed: `conflicts` lists "
        "each (`start`, `conflicting_appointment_id`, `conflicting_hold_id` or "
        "`conflicting_group_session_id`, `conflicting_resource`, `reason`: `taken` or "
        "`site_closed` with `closed_on` and `closure_kind`); nothing was booked. With "
        "`skip_closed`, closed days are no conflict unless every date is closed."
    ),
)
async def book_series(body: SeriesIn, caller: Caller, runtime: Live) -> SeriesOut:
    """Book every occurrence of the rule, checked together in one transaction, or none.
    Emits one `AppointmentBooked` per occurrence."""
    first = appointment.BookAppointment(
        counselor_id=body.counselor_id,
        client_id=body.client_id,
        room_id=body.room_id,
        start=body.start,
        duration_minutes=body.duration_minutes,
        modality=body.modality,
    )
    allowed = closed_site_override(body.allow_closed_site, caller)
    booked = await execute(
        runtime,
        lambda uow: series_app.book_series(
            uow,
            first,
            body.rrule,
            caller,
            allow_closed_site=allowed,
            skip_closed=body.skip_closed,
        ),
    )
    return SeriesOut.of(booked)


@router.get("/appointment-series/{series_id}", responses=problem_responses(404))
async def get_series(series_id: UUID, caller: Caller, runtime: Live) -> SeriesOut:
    async with runtime.db().acquire() as conn:
        found = await series_store.load_series(conn, series_id)
    if found is None:
        raise UnknownAggregate("appointment series", series_id)
    caller.require_site(found.site_id)
    async with runtime.db().acquire() as conn:
        occurrences = await series_app.occurrences_of(conn, found)
    return SeriesOut.of(series_app.BookedSeries(found, occurrences))


@router.post(
    "/appointment-series/{series_id}/cancel",
    responses=problem_responses(
        404,
        s409="(type `fee-changed`) The fees the cancelled occurrences would mark, added up, are"
        " not `expected_fee`: `fee_due` names their total, nothing was cancelled.",
    ),
)
async def cancel_series(
    series_id: UUID, body: SeriesCancelIn, caller: Caller, runtime: Live
) -> SeriesOut:
    """Cancel this and the following occurrences still booked and ahead (each emits
    `AppointmentCancelled`; one under way or over is left as it is, its outcome recorded,
    never a late cancellation). One occurrence is moved alone with
    `POST /appointments/{id}/reschedule`."""
    command = appointment.CancelAppointment(reason=body.reason, cancelled_by=body.cancelled_by)
    done = await execute(
        runtime,
        lambda uow: series_app.cancel_series(
            uow,
            series_id,
            body.from_,
            command,
            caller,
            offer_policy(runtime).on_freed(),
            expected_of(body, body.expected_fee),
        ),
    )
    return SeriesOut.of(done)
