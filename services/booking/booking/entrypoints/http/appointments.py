"""Appointments: booking, rescheduling, cancelling and recording what happened."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from booking.adapters import projections, queries
from booking.application import handlers
from booking.application.ports import require_site
from booking.domain import appointment
from booking.domain.appointment import AppointmentStatus
from booking.domain.errors import UnknownAggregate
from booking.domain.expected_fee import as_expected
from booking.entrypoints.http.closures import closed_site_override
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.schemas import (
    AppointmentIn,
    AppointmentOut,
    CancelIn,
    CompleteIn,
    RescheduleIn,
)
from booking.entrypoints.policies import offer_policy
from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page

router = APIRouter(route_class=BookingRoute, tags=["appointments"])

_OVERLAP = (
    "409 with `conflicting_appointment_id` when the counselor, the room or the client already "
    "has a booked appointment overlapping `[start, end)`. 409 `site-closed` (with `closed_on` "
    "and `closure_kind`) when the session falls on a day the site is closed "
    "(`PUT /sites/{id}/closures`), unless an admin sends `allow_closed_site: true`."
)


@router.post(
    "/appointments",
    status_code=201,
    description=_OVERLAP,
    responses=problem_responses(
        s409="Overlap (`conflicting_appointment_id` names it), or the site is closed that "
        "day (`site-closed`)."
    ),
)
async def book_appointment(body: AppointmentIn, caller: Caller, runtime: Live) -> AppointmentOut:
    """Book a session. Emits `AppointmentBooked`."""
    command = appointment.BookAppointment(
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
        lambda uow: handlers.book_appointment(
            uow, command, caller, body.hold_id, allow_closed_site=allowed
        ),
        key_in_first_read=True,  # its parties' read holds and looks up the key
    )
    return AppointmentOut.of(booked)


@router.get("/appointments", responses=PAGED)
async def list_appointments(
    caller: Caller,
    runtime: Live,
    page: Page,
    counselor_id: UUID | None = None,
    client_id: UUID | None = None,
    room_id: UUID | None = None,
    site_id: UUID | None = None,
    status: AppointmentStatus | None = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="Appointments ending after this.")
    ] = None,
    to: Annotated[Instant | None, Query(description="Appointments starting before this.")] = None,
) -> list[AppointmentOut]:
    """Appointments overlapping `[from, to)`, ordered by start, a page at a time (`Link` and
    `Next-Cursor` headers when more follow)."""
    selection = queries.AppointmentFilter(
        counselor_id=counselor_id,
        client_id=client_id,
        room_id=room_id,
        site_id=site_id,
        status=status,
        ends_after=from_,
        starts_before=to,
    )
    window = queries.Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        found = await queries.list_appointments(conn, selection, caller.site_ids, window)
    return [AppointmentOut.of(a) for a in page.serve(found, key=lambda a: (a.start, a.id))]


@router.get("/appointments/{appointment_id}", responses=problem_responses(404))
async def get_appointment(appointment_id: UUID, caller: Caller, runtime: Live) -> AppointmentOut:
    async with runtime.db().acquire() as conn:
        found = await projections.load_appointment(conn, appointment_id)
    if found is None:
        raise UnknownAggregate("appointment", appointment_id)
    require_site(caller, found.site_id)
    return AppointmentOut.of(found)


@router.post(
    "/appointments/{appointment_id}/reschedule",
    description=_OVERLAP,
    responses=problem_responses(
        404,
        s409="Overlap, the site closed that day (`site-closed`), or the appointment is not booked.",
    ),
)
async def reschedule_appointment(
    appointment_id: UUID, body: RescheduleIn, caller: Caller, runtime: Live
) -> AppointmentOut:
    """Move a booked session (409 when not booked). Emits `AppointmentRescheduled`; the
    slot it leaves is offered to the waitlist (`WaitlistOfferMade`)."""
    command = appointment.RescheduleAppointment(
        start=body.start, duration_minutes=body.duration_minutes, room_id=body.room_id
    )
    allowed = closed_site_override(body.allow_closed_site, caller)
    moved = await execute(
        runtime,
        lambda uow: handlers.reschedule_appointment(
            uow,
            appointment_id,
            command,
            caller,
            offer_policy(runtime).on_freed(),
            allow_closed_site=allowed,
        ),
    )
    return AppointmentOut.of(moved)


@router.post(
    "/appointments/{appointment_id}/cancel",
    responses=problem_responses(
        404,
        s409="The appointment is not booked; or (type `fee-changed`) the fee this cancellation"
        " would mark is not `expected_fee`: `fee_due` names it, nothing was cancelled.",
    ),
)
async def cancel_appointment(
    appointment_id: UUID, body: CancelIn, caller: Caller, runtime: Live
) -> AppointmentOut:
    """Cancel a booked session; `late` inside the site's late-cancellation window, with
    `fee_due` for a late client cancellation when the site charges a missed-session fee.
    Emits `AppointmentCancelled` (the reason stays in booking); a future slot is offered to
    the waitlist (`WaitlistOfferMade`)."""
    command = appointment.CancelAppointment(reason=body.reason, cancelled_by=body.cancelled_by)
    expected = body.expected()
    # Vetted in the cancellation's own transaction: the terms it really records.
    vet = as_expected(expected) if expected is not None else None
    cancelled = await execute(
        runtime,
        lambda uow: handlers.cancel_appointment(
            uow, appointment_id, command, caller, offer_policy(runtime).on_freed(), vet
        ),
    )
    return AppointmentOut.of(cancelled)


@router.post(
    "/appointments/{appointment_id}/no-show",
    responses=problem_responses(404, s409="Not booked, or before its start."),
)
async def mark_no_show(appointment_id: UUID, caller: Caller, runtime: Live) -> AppointmentOut:
    """From the start on, while booked. Emits `SessionMissed` (with `fee_due` when the site
    charges a missed-session fee)."""
    missed = await execute(runtime, lambda uow: handlers.mark_no_show(uow, appointment_id, caller))
    return AppointmentOut.of(missed)


@router.post(
    "/appointments/{appointment_id}/complete",
    responses=problem_responses(404, s409="Not booked, or before its start."),
)
async def complete_session(
    appointment_id: UUID, body: CompleteIn, caller: Caller, runtime: Live
) -> AppointmentOut:
    """From the start on, while booked. Emits `SessionCompleted`, and `RiskFlagged` when the
    risk level is `moderate` or above. Goals and next steps stay in booking."""
    command = appointment.CompleteSession(
        goal_horizon=body.goal_horizon,
        goals=tuple(body.goals),
        next_steps=body.next_steps,
        risk_level=body.risk_level,
    )
    completed = await execute(
        runtime, lambda uow: handlers.complete_session(uow, appointment_id, command, caller)
    )
    return AppointmentOut.of(completed)
