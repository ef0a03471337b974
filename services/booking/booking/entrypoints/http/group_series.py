"""Recurring group sessions (extension): `POST /group-session-series`, seating a client in
every future occurrence, the client giving those seats up, and cancelling from a date."""

from datetime import date, datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from booking.adapters import group_series_store
from booking.application import group_series as series_app
from booking.application.group_series import ScheduledSeries
from booking.domain import appointment, group_session
from booking.domain.errors import UnknownAggregate
from booking.domain.group_session import MAX_CAPACITY, MIN_CAPACITY
from booking.domain.scheduling.series import MAX_OCCURRENCES
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from booking.entrypoints.http.closures import closed_site_override
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.group_schemas import GroupSessionOut, SeatIn
from booking.entrypoints.http.series import SKIPPED, SkippedOccurrenceOut
from booking.entrypoints.policies import offer_policy
from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.http.bodies import CalendarDate, Instant, RequestBody
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses

router = APIRouter(route_class=BookingRoute, tags=["group sessions"])


class GroupSeriesIn(RequestBody):
    """A group session's fields and `POST /appointment-series`' `rrule`."""

    counselor_id: UUID = Field(description="A counselor, supervisor or site lead.")
    room_id: UUID | None = Field(None, description="Required for `in_person`.")
    start: Instant = Field(
        description="The first start; its local time in the site's zone is kept for every "
        "occurrence (across a DST change too)."
    )
    duration_minutes: int = Field(
        DEFAULT_SESSION_MINUTES, ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES
    )
    modality: Modality
    capacity: int = Field(ge=MIN_CAPACITY, le=MAX_CAPACITY, description="Seats of each occurrence.")
    rrule: str = Field(
        max_length=200,
        description="RFC 5545 subset: `FREQ=WEEKLY` or `MONTHLY`, `INTERVAL`, `COUNT` or "
        "`UNTIL` (a date, or a UTC time), `BYDAY`; at most "
        f"{MAX_OCCURRENCES} occurrences, e.g. `FREQ=WEEKLY;COUNT=10;BYDAY=TU`.",
    )
    allow_closed_site: bool = Field(
        False,
        description="An `admin` schedules occurrences on days the site is closed anyway "
        "(audited as such); otherwise each such occurrence is a conflict (`reason` "
        "`site_closed`). Other keys: 403.",
    )
    skip_closed: bool = Field(
        False,
        description="Extension: leave out the occurrences that fall on a day the site is closed "
        "instead of refusing the series; the answer lists them (`skipped_occurrences`). "
        "`COUNT` then counts the occurrences scheduled, so the series runs on past the closed "
        "dates; `UNTIL` keeps its last date. Every occurrence closed: still 409. Any other "
        "conflict still refuses the series. Not with `allow_closed_site` (422).",
    )


class GroupSeriesCancelIn(RequestBody):
    from_: CalendarDate | None = Field(
        None,
        alias="from",
        description="Cancel the occurrences on this date (site's zone) and after; default today.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Kept in booking.")
    cancelled_by: CancelledBy


class SeriesSeatCancelIn(RequestBody):
    from_: CalendarDate | None = Field(
        None,
        alias="from",
        description="Give up the client's seats on this date (site's zone) and after; default "
        "today.",
    )
    reason: str = Field(min_length=1, max_length=500, description="Kept in booking.")
    cancelled_by: CancelledBy


class GroupSeriesOut(BaseModel):
    id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    capacity: int
    rrule: str
    timezone: str = Field(description="The site's zone the rule is expanded in.")
    duration_minutes: int
    scheduled_at: datetime
    cancelled_from: date | None = Field(
        None, description="The earliest date the series was cancelled from, if it was."
    )
    occurrences: list[GroupSessionOut] = Field(description="Every occurrence, in order.")
    skipped_occurrences: list[SkippedOccurrenceOut] = Field(description=SKIPPED)

    @classmethod
    def of(cls, found: ScheduledSeries) -> "GroupSeriesOut":
        s = found.series
        return cls(
            id=s.id,
            site_id=s.site_id,
            counselor_id=s.counselor_id,
            room_id=s.room_id,
            modality=s.modality,
            capacity=s.capacity,
            rrule=s.rrule,
            timezone=s.timezone,
            duration_minutes=s.duration_minutes,
            scheduled_at=s.scheduled_at,
            cancelled_from=s.cancelled_from,
            occurrences=[GroupSessionOut.of(g) for g in found.occurrences],
            skipped_occurrences=[SkippedOccurrenceOut.of(k) for k in s.skipped],
        )


@router.post(
    "/group-session-series",
    status_code=201,
    responses=problem_responses(
        s409="Some occurrences' counselor or room is taken, or fall on a day the site is "
        "closed: `conflicts` lists each (`start`, `conflicting_appointment_id`, "
        "`conflicting_hold_id` or `conflicting_group_session_id`, `conflicting_resource`, "
        "`reason`: `taken` or `site_closed` with `closed_on` and `closure_kind`); nothing was "
        "scheduled. With `skip_closed`, closed days are no conflict unless every date is closed.",
        s403="`allow_closed_site` sent by a key that is not an admin's.",
    ),
)
async def schedule_group_series(
    body: GroupSeriesIn, caller: Caller, runtime: Live
) -> GroupSeriesOut:
    """Schedule a recurring group session: one group session per occurrence of the rule, all
    checked together in one transaction, or none. Emits one `GroupSessionScheduled` per
    occurrence, then `GroupSessionSeriesScheduled`."""
    first = group_session.ScheduleGroupSession(
        counselor_id=body.counselor_id,
        start=body.start,
        modality=body.modality,
        capacity=body.capacity,
        room_id=body.room_id,
        duration_minutes=body.duration_minutes,
    )
    allowed = closed_site_override(body.allow_closed_site, caller)
    scheduled = await execute(
        runtime,
        lambda uow: series_app.schedule_group_series(
            uow,
            first,
            body.rrule,
            caller,
            allow_closed_site=allowed,
            skip_closed=body.skip_closed,
        ),
    )
    return GroupSeriesOut.of(scheduled)


@router.get("/group-session-series/{group_series_id}", responses=problem_responses(404))
async def get_group_series(group_series_id: UUID, caller: Caller, runtime: Live) -> GroupSeriesOut:
    """The series and every occurrence with its seats."""
    async with runtime.db().acquire() as conn:
        found = await group_series_store.load_group_series(conn, group_series_id)
        if found is None:
            raise UnknownAggregate("group session series", group_series_id)
        caller.require_site(found.site_id)
        return GroupSeriesOut.of(await series_app.scheduled_series(conn, found))


@router.post(
    "/group-session-series/{group_series_id}/seats",
    responses=problem_responses(
        404,
        s409="Some future occurrences cannot seat the client: `conflicts` lists each "
        "(`group_session_id`, `start`, `reason`: `full`, `taken` with who holds the client "
        "then, or `site_closed`); the client was seated in none. Also when no occurrence is "
        "ahead.",
    ),
)
async def seat_in_series(
    group_series_id: UUID, body: SeatIn, caller: Caller, runtime: Live
) -> GroupSeriesOut:
    """Seat a client of the site in every booked occurrence still ahead, all or none (an
    occurrence they already sit in stays as it is). Each seat is an appointment of its own
    (`AppointmentBooked` with its `group_session_id` and this `group_series_id`), then one
    `GroupSessionSeriesSeatTaken` lists the seats taken now: notify confirms them in one
    message."""
    policy = offer_policy(runtime)
    seated = await execute(
        runtime,
        lambda uow: series_app.seat_in_series(uow, group_series_id, body.client_id, caller, policy),
    )
    return GroupSeriesOut.of(seated)


@router.post(
    "/group-session-series/{group_series_id}/seats/{client_id}/cancel",
    responses=problem_responses(
        404,
        s409="The client holds no seat in a booked occurrence still ahead, on `from` or after, "
        "and waits for none: nothing was cancelled.",
    ),
)
async def leave_series(
    group_series_id: UUID,
    client_id: UUID,
    body: SeriesSeatCancelIn,
    caller: Caller,
    runtime: Live,
) -> GroupSeriesOut:
    """Extension: the client gives up their seat in the series: each of their seats in the
    booked occurrences still ahead, on `from` and after, is cancelled (each emits
    `AppointmentCancelled` with this `group_series_id`; late and fee rules as for any
    appointment; each freed seat is offered to its group's waitlist), then one
    `GroupSessionSeriesSeatCancelled` (`cause` `left`), which notify answers with one notice.
    Extension: the client's waiting entries for those occurrences close too (reason
    `left_series`), a seat held for an open offer going to the next client at once; a client
    who only waited gets those entries closed and no summary (no seat was given up).
    One seat is cancelled alone with `POST /appointments/{id}/cancel`."""
    command = appointment.CancelAppointment(reason=body.reason, cancelled_by=body.cancelled_by)
    done = await execute(
        runtime,
        lambda uow: series_app.leave_series(
            uow,
            group_series_id,
            client_id,
            body.from_,
            command,
            caller,
            offer_policy(runtime),
        ),
    )
    return GroupSeriesOut.of(done)


@router.post("/group-session-series/{group_series_id}/cancel", responses=problem_responses(404))
async def cancel_group_series(
    group_series_id: UUID, body: GroupSeriesCancelIn, caller: Caller, runtime: Live
) -> GroupSeriesOut:
    """Cancel the booked occurrences still ahead on `from` and after (a session under way
    or over keeps its seats: its outcome is recorded, not cancelled), each with its seats (each
    emits `GroupSessionCancelled` and its seats' `AppointmentCancelled` with this
    `group_series_id`), then one `GroupSessionSeriesSeatCancelled` (`cause`
    `series_cancelled`) per seated client (notify's one notice to each), then
    `GroupSessionSeriesCancelled`. One occurrence is moved or cancelled alone with the
    group session's own routes."""
    command = group_session.CancelGroupSession(reason=body.reason, cancelled_by=body.cancelled_by)
    done = await execute(
        runtime,
        lambda uow: series_app.cancel_group_series(
            uow, group_series_id, body.from_, command, caller, offer_policy(runtime).on_freed()
        ),
    )
    return GroupSeriesOut.of(done)
