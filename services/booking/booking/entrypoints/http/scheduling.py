"""Working hours, site booking rules, free slots and holds (contract v2: Integrations)."""

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from booking.adapters import scheduling_store
from booking.application import scheduling
from booking.domain import appointment
from booking.domain.errors import InvalidCommand, UnknownAggregate
from booking.domain.slots import DEFAULT_SESSION_MINUTES, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from booking.domain.values import parse_duration
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.scheduling_schemas import (
    BookingRulesIn,
    BookingRulesOut,
    FreeSlotOut,
    HoldIn,
    HoldOut,
    WorkingHoursIn,
    WorkingHoursOut,
)
from booking.entrypoints.policies import booking_settings
from counseling_shared.codes import Modality
from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page

router = APIRouter(route_class=BookingRoute, tags=["scheduling"])


@router.put("/staff/{staff_id}/working-hours", responses=problem_responses(404))
async def set_working_hours(
    staff_id: UUID, body: WorkingHoursIn, caller: Caller, runtime: Live
) -> WorkingHoursOut:
    """Replace the counselor's weekly hours and dated exceptions (wall-clock times in the
    site's zone: 09:00 stays 09:00 across DST)."""
    command = body.command()
    saved = await execute(
        runtime, lambda uow: scheduling.set_working_hours(uow, staff_id, command, caller)
    )
    return WorkingHoursOut.of(saved)


@router.get("/staff/{staff_id}/working-hours", responses=problem_responses(404))
async def get_working_hours(staff_id: UUID, caller: Caller, runtime: Live) -> WorkingHoursOut:
    async with runtime.db().acquire() as conn:
        found = await scheduling_store.load_hours(conn, staff_id)
    if found is None:
        raise UnknownAggregate("working hours of staff member", staff_id)
    caller.require_site(found.site_id)
    return WorkingHoursOut.of(found)


@router.put("/sites/{site_id}/booking-rules", responses=problem_responses(404))
async def set_booking_rules(
    site_id: UUID, body: BookingRulesIn, caller: Person, runtime: Live
) -> BookingRulesOut:
    """The buffer kept free around sessions in availability, and the fee a late client
    cancellation or a no-show owes (`fee_due`). Staff and admins only."""
    command = body.command()
    saved = await execute(
        runtime, lambda uow: scheduling.set_booking_rules(uow, site_id, command, caller)
    )
    return BookingRulesOut.of(saved)


@router.get("/sites/{site_id}/booking-rules", responses=problem_responses(404))
async def get_booking_rules(site_id: UUID, caller: Caller, runtime: Live) -> BookingRulesOut:
    caller.require_site(site_id)
    async with runtime.db().acquire() as conn:
        found = await scheduling_store.load_rules(conn, site_id)
    if found is None:
        raise UnknownAggregate("booking rules of site", site_id)
    return BookingRulesOut.of(found)


@router.get("/availability", responses={**PAGED, **problem_responses(404)})
async def get_availability(
    caller: Caller,
    runtime: Live,
    page: Page,
    site_id: UUID,
    from_: Annotated[Instant, Query(alias="from", description="Window start (RFC 3339).")],
    to: Annotated[
        Instant,
        Query(description=f"Window end; at most {scheduling.MAX_AVAILABILITY_DAYS} days on."),
    ],
    counselor_id: UUID | None = None,
    duration_minutes: Annotated[
        int, Query(ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES)
    ] = DEFAULT_SESSION_MINUTES,
    modality: Modality = Modality.ONLINE,
) -> list[FreeSlotOut]:
    """Free slots of the site's counselors (with working hours) in `[from, to)`: each
    working period is cut into `duration_minutes` slots from its start; a slot is free when
    no booked session or live hold of the counselor lies within the site's buffer of it, and,
    in person, a room is free (the first is named). Ordered by start, then counselor."""
    caller.require_site(site_id)
    if to <= from_ or to - from_ > timedelta(days=scheduling.MAX_AVAILABILITY_DAYS):
        raise InvalidCommand(
            {"to": f"must be after `from`, at most {scheduling.MAX_AVAILABILITY_DAYS} days on"}
        )
    after = page.after(type(from_), UUID)
    async with runtime.db().acquire() as conn:
        found = await scheduling.availability(
            conn,
            site_id,
            counselor_id,
            from_,
            to,
            timedelta(minutes=duration_minutes),
            modality,
            runtime.clock.now(),
        )
    if after is not None:
        found = [s for s in found if (s.start, s.counselor_id) > after]
    served = page.serve(found[: page.fetch], key=lambda s: (s.start, s.counselor_id))
    return [FreeSlotOut.of(s) for s in served]


@router.post(
    "/holds",
    status_code=201,
    responses=problem_responses(s409="Taken: a booked session or another hold has the slot."),
)
async def place_hold(body: HoldIn, caller: Caller, runtime: Live) -> HoldOut:
    """Hold a slot for `HOLD_TTL` (default 5 minutes): nobody else can book or hold it
    meanwhile (the same database constraint as a booking), and `POST /appointments` with
    `hold_id` books it. Released by a durable timer when it expires. Emits `HoldPlaced`."""
    ttl = parse_duration(booking_settings(runtime).hold_ttl)
    command = appointment.BookAppointment(
        counselor_id=body.counselor_id,
        client_id=body.client_id or body.counselor_id,  # unused when no client is named
        room_id=body.room_id,
        start=body.start,
        duration_minutes=body.duration_minutes,
        modality=body.modality,
    )
    held = await execute(
        runtime, lambda uow: scheduling.place_hold(uow, command, body.client_id, ttl, caller)
    )
    return HoldOut.of(held)


@router.get("/holds/{hold_id}", responses=problem_responses(404))
async def get_hold(hold_id: UUID, caller: Caller, runtime: Live) -> HoldOut:
    async with runtime.db().acquire() as conn:
        found = await scheduling_store.load_hold(conn, hold_id)
    if found is None:
        raise UnknownAggregate("hold", hold_id)
    caller.require_site(found.site_id)
    return HoldOut.of(found)
