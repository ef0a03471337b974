"""Group sessions (extension): one counselor, one room, several clients at once, each client's
seat an appointment of its own."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from booking.adapters import group_session_store
from booking.adapters.queries import Window
from booking.application import group_sessions
from booking.application import waitlist as waitlist_app
from booking.application.group_sessions import SeatedGroup
from booking.application.ports import require_site
from booking.domain import group_session
from booking.domain.errors import UnknownAggregate
from booking.entrypoints.http.closures import closed_site_override
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.group_schemas import (
    CapacityIn,
    GroupCancelIn,
    GroupRescheduleIn,
    GroupSessionIn,
    GroupSessionOut,
    SeatIn,
)
from booking.entrypoints.http.schemas import AppointmentOut
from booking.entrypoints.http.waitlist import WaitlistEntryOut
from booking.entrypoints.policies import offer_policy
from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page

router = APIRouter(route_class=BookingRoute, tags=["group sessions"])


@router.post(
    "/group-sessions",
    status_code=201,
    responses=problem_responses(
        s409="The counselor or the room is taken then: `conflicting_appointment_id` (or "
        "`conflicting_hold_id`, `conflicting_group_session_id`) names who holds it; or the "
        "site is closed that day (`site-closed`).",
        s403="`allow_closed_site` sent by a key that is not an admin's.",
    ),
)
async def schedule_group_session(
    body: GroupSessionIn, caller: Caller, runtime: Live
) -> GroupSessionOut:
    """Schedule a group session of `capacity` seats. It takes the counselor's and the room's
    time as an appointment does. Emits `GroupSessionScheduled`."""
    command = group_session.ScheduleGroupSession(
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
        lambda uow: group_sessions.schedule_group_session(
            uow, command, caller, allow_closed_site=allowed
        ),
    )
    return GroupSessionOut.of(scheduled)


@router.get("/group-sessions", responses=PAGED)
async def list_group_sessions(
    caller: Caller,
    runtime: Live,
    page: Page,
    counselor_id: UUID | None = None,
    site_id: UUID | None = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="Sessions ending after this.")
    ] = None,
    to: Annotated[Instant | None, Query(description="Sessions starting before this.")] = None,
) -> list[GroupSessionOut]:
    """Group sessions overlapping `[from, to)`, ordered by start, a page at a time (`Link`
    and `Next-Cursor` headers when more follow)."""
    selection = group_session_store.GroupSessionFilter(
        counselor_id=counselor_id, site_id=site_id, ends_after=from_, starts_before=to
    )
    window = Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        found = await group_session_store.list_group_sessions(
            conn, selection, caller.site_ids, window
        )
        served = page.serve(found, key=lambda g: (g.start, g.id))
        ids = [g.id for g in served]
        seats = await group_session_store.seats_of_many(conn, ids)
        held = await group_session_store.held_seats_of_many(conn, ids)
    return [GroupSessionOut.of(SeatedGroup(g, seats[g.id], held[g.id])) for g in served]


@router.get("/group-sessions/{group_session_id}", responses=problem_responses(404))
async def get_group_session(
    group_session_id: UUID, caller: Caller, runtime: Live
) -> GroupSessionOut:
    async with runtime.db().acquire() as conn:
        found = await group_session_store.load_group_session(conn, group_session_id)
        if found is None:
            raise UnknownAggregate("group session", group_session_id)
        require_site(caller, found.site_id)
        seats = await group_session_store.seats_of(conn, group_session_id)
        held = await group_session_store.held_seats(conn, group_session_id)
    return GroupSessionOut.of(SeatedGroup(found, seats, held))


@router.post(
    "/group-sessions/{group_session_id}/seats",
    status_code=201,
    responses=problem_responses(
        404,
        s409="The session is full (`group_full`), not booked, takes no seat now (it took "
        "place, or its counselor was deactivated), the client already has a seat, or the "
        "client has another appointment then (`conflicting_appointment_id`).",
    ),
)
async def take_seat(
    group_session_id: UUID, body: SeatIn, caller: Caller, runtime: Live
) -> AppointmentOut:
    """Seat a client of the session's site: their own appointment of this session (with its
    `group_session_id`), so confirmations, reminders, follow-ups and records stay per client.
    Emits `AppointmentBooked` with the `group_session_id`. Concurrent requests never take more
    seats than the session has. A client waiting for this group stops waiting: their entry
    closes (reason `seated`), and a seat held for their open offer is theirs to take."""
    policy = offer_policy(runtime)
    seat = await execute(
        runtime,
        lambda uow: group_sessions.take_seat(
            uow, group_session_id, body.client_id, caller, policy=policy
        ),
    )
    return AppointmentOut.of(seat)


@router.post(
    "/group-sessions/{group_session_id}/reschedule",
    responses=problem_responses(
        404,
        s409="Not booked, or the counselor, the room or a seated client is taken at the new "
        "time: `conflicts` names each (`conflicting_resource`, `client_id` for a seated "
        "client, and who holds it), or the site is closed that day (`site-closed`). Nothing "
        "moves.",
        s403="`allow_closed_site` sent by a key that is not an admin's.",
    ),
)
async def reschedule_group_session(
    group_session_id: UUID, body: GroupRescheduleIn, caller: Caller, runtime: Live
) -> GroupSessionOut:
    """Move the session and every booked seat together, or nothing. Emits
    `GroupSessionRescheduled` and each seat's `AppointmentRescheduled`; the time it leaves is
    offered to the waitlist (`WaitlistOfferMade`), and seats offered to the group's waitlist
    at the old time are offered again at the new one."""
    command = group_session.RescheduleGroupSession(
        start=body.start, duration_minutes=body.duration_minutes, room_id=body.room_id
    )
    allowed = closed_site_override(body.allow_closed_site, caller)
    moved = await execute(
        runtime,
        lambda uow: group_sessions.reschedule_group_session(
            uow,
            group_session_id,
            command,
            caller,
            offer_policy(runtime).on_freed(),
            allow_closed_site=allowed,
        ),
    )
    return GroupSessionOut.of(moved)


@router.post(
    "/group-sessions/{group_session_id}/cancel",
    responses=problem_responses(404, s409="The session is not booked."),
)
async def cancel_group_session(
    group_session_id: UUID, body: GroupCancelIn, caller: Caller, runtime: Live
) -> GroupSessionOut:
    """Cancel the session and every booked seat (each seat's cancellation is late, and owes
    a fee, by the appointments' rules). Emits `GroupSessionCancelled` and each seat's
    `AppointmentCancelled`; the reason stays in booking. A future session's time is offered to
    the waitlist (`WaitlistOfferMade`)."""
    command = group_session.CancelGroupSession(reason=body.reason, cancelled_by=body.cancelled_by)
    cancelled = await execute(
        runtime,
        lambda uow: group_sessions.cancel_group_session(
            uow, group_session_id, command, caller, offer_policy(runtime).on_freed()
        ),
    )
    return GroupSessionOut.of(cancelled)


@router.post(
    "/group-sessions/{group_session_id}/waitlist",
    status_code=201,
    responses=problem_responses(
        404,
        s409="The session is not booked, has a free seat (`seats_free`: take it instead), or "
        "the client is seated or waiting already.",
    ),
)
async def join_group_waitlist(
    group_session_id: UUID, body: SeatIn, caller: Caller, runtime: Live
) -> WaitlistEntryOut:
    """Put a client of the session's site on a full group's waitlist. A seat freed later (a
    seat cancelled, the capacity raised, an offer expired) is offered to the waiting clients
    one at a time in joining order, as a freed slot is (`WaitlistOfferMade` with this
    `group_session_id`, the seat held for `WAITLIST_OFFER_TTL`). The entry is listed with the
    others (`GET /waitlist`)."""
    entry = await execute(
        runtime,
        lambda uow: waitlist_app.join_group_waitlist(uow, group_session_id, body.client_id, caller),
    )
    return WaitlistEntryOut.of(entry)


@router.post(
    "/group-sessions/{group_session_id}/capacity",
    responses=problem_responses(
        404,
        s409="The session is not booked, or the new capacity is below the seats taken "
        "(`capacity_below_seated`: `seated` and `held` say how many).",
    ),
)
async def change_capacity(
    group_session_id: UUID, body: CapacityIn, caller: Caller, runtime: Live
) -> GroupSessionOut:
    """Raise or lower the session's seats (2 to 15). Emits `GroupSessionCapacityChanged`;
    seats raised are offered to the group's waitlist (`WaitlistOfferMade`)."""
    command = group_session.ChangeCapacity(capacity=body.capacity)
    changed = await execute(
        runtime,
        lambda uow: group_sessions.change_capacity(
            uow, group_session_id, command, caller, offer_policy(runtime).on_freed()
        ),
    )
    return GroupSessionOut.of(changed)
