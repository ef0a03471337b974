"""Group sessions: scheduling, seating clients, moving and cancelling the whole group.

A seat is an ordinary appointment (`handlers.book_appointment` with the session's
`group_session_id`), so every appointment rule and every downstream consumer applies per client.
Seats are counted under the session's row lock (`load_group_session(locked=True)`): concurrent
seat requests queue on it, and each counts the seats committed before it, so none overfills.
A seat held for a waitlist offer (`application/waitlist.py`) counts as taken.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID, uuid4

from booking.adapters import claims, group_session_store, projections
from booking.application import handlers, publishing
from booking.application.claiming import save_claiming
from booking.application.closures import check_open
from booking.application.ports import SiteAccess, require_site
from booking.application.recording import record, stream_id
from booking.application.waitlist import (
    OfferPolicy,
    close_group_entries,
    close_seated_entry,
    lock_group_wait,
    offer_free_seats,
    withdraw_group_offers,
)
from booking.domain import appointment, group_session, site
from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.errors import InvalidCommand, NotAllowedNow, UnknownAggregate, refuse_invalid
from booking.domain.group_session import GroupConflict, GroupConflicts, GroupSession
from booking.domain.scheduling.waitlist import FreedSlot
from counseling_shared.unit_of_work import UnitOfWork

KIND = "group_session"  # its streams: `group_session-<uuid>`


@dataclass(frozen=True)
class SeatedGroup:
    session: GroupSession
    seats: list[Appointment]  # every seat not cancelled
    held: int = 0  # seats held for open waitlist offers

    @property
    def seats_left(self) -> int:
        return group_session.seats_left(self.session, len(self.seats), self.held)


async def schedule_group_session(
    uow: UnitOfWork,
    command: group_session.ScheduleGroupSession,
    access: SiteAccess,
    *,
    allow_closed_site: bool = False,
) -> SeatedGroup:
    """`allow_closed_site`: an admin schedules it on a day the site is closed (the route
    checks the role); its seats are then taken and offered that day too."""
    counselor = await projections.load_staff_member(uow.conn, command.counselor_id)
    if counselor is not None:
        require_site(access, counselor.site_id)
    the_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    horizon = await _horizon_months(uow, counselor.site_id if counselor else None)
    group_id = uuid4()
    events = group_session.schedule(command, group_id, counselor, the_room, uow.now(), horizon)
    scheduled = events[0]
    assert isinstance(scheduled, group_session.GroupSessionScheduled)
    # A group on a closed day of its site is refused like any session, unless an admin
    # allowed it (the event says so: its seats follow the group onto that day).
    overridden = await check_open(
        uow.conn,
        scheduled.site_id,
        scheduled.start,
        scheduled.end,
        allow_closed_site=allow_closed_site,
    )
    events = [replace(scheduled, on_closed_day=overridden is not None)]
    state = await _save(uow, None, events)
    return SeatedGroup(state, [])


async def take_seat(
    uow: UnitOfWork,
    group_session_id: UUID,
    client_id: UUID,
    access: SiteAccess,
    *,
    names_resource: bool = True,
    policy: OfferPolicy | None = None,
    group_series_id: UUID | None = None,
) -> Appointment:
    """Seat the client: a booked appointment of the session. Full, already seated, the
    client's own overlap, or a session that takes no seat now (it took place, its counselor
    was deactivated): refused (409); a client of another site: 422. `names_resource`: False
    when the command answers something else (a series' seats); `group_series_id`: the
    series' seat command takes it (its event says so). The client's waiting entry
    for the group closes in the same transaction (`seated`); the seat its open offer held is
    the client's to take, and any seat still free after is offered on (`policy`)."""
    waiting = await lock_group_wait(uow, group_session_id, client_id)
    current = await _locked(uow, group_session_id, access)
    the_client = await projections.load_client(uow.conn, client_id)
    refuse_invalid({"client_id": appointment.client_problem(the_client, current.site_id)})
    if waiting is not None:
        # Before the seats are counted: a seat held for the client's own offer is theirs to
        # take. A refused seat rolls this back with it.
        await close_seated_entry(uow, waiting)
    seated = await group_session_store.seats_of(uow.conn, group_session_id)
    held = await group_session_store.held_seats(uow.conn, group_session_id)
    group_session.check_seat(current, client_id, {s.client_id for s in seated}, held)
    booking = group_session.seat_booking(current, client_id, group_series_id)
    try:
        # A group an admin put on a closed day seats clients that day (audited as overridden).
        seat = await handlers.book_appointment(
            uow,
            booking,
            access,
            allow_closed_site=current.on_closed_day,
            seat_names_resource=names_resource,
        )
    except InvalidCommand as refused:
        # Every field but the client is the session's own (its start, counselor, room): their
        # refusal is the session's state (it took place, its counselor left), not the request.
        raise NotAllowedNow(
            f"group session {group_session_id} takes no seat now: {refused}"
        ) from None
    if waiting is not None and policy is not None:
        await offer_free_seats(uow, group_session_id, policy)  # a seat its offer held, if free
    return seat


async def reschedule_group_session(
    uow: UnitOfWork,
    group_session_id: UUID,
    command: group_session.RescheduleGroupSession,
    access: SiteAccess,
    on_freed: handlers.SlotFreed | None = None,
    *,
    allow_closed_site: bool = False,
) -> SeatedGroup:
    """Move the session and every booked seat, or nothing: every conflict (the counselor, the
    room, each seated client) is named in one `GroupConflicts`. `allow_closed_site`: an
    admin moves it onto a day the site is closed."""
    current = await _locked(uow, group_session_id, access)
    new_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    horizon = await _horizon_months(uow, current.site_id)
    moving = group_session.reschedule(current, command, new_room, uow.now(), horizon)[0]
    assert isinstance(moving, group_session.GroupSessionRescheduled)
    overridden = await check_open(
        uow.conn,
        current.site_id,
        moving.start,
        moving.end,
        allow_closed_site=allow_closed_site,
    )
    events: list[group_session.GroupSessionEvent] = [
        replace(moving, on_closed_day=overridden is not None)
    ]
    moved = group_session.evolve(current, events[0])
    seats = [
        s
        for s in await group_session_store.seats_of(uow.conn, group_session_id)
        if s.status is AppointmentStatus.BOOKED
    ]
    conflicts = await _conflicts(uow, moved, seats)
    if conflicts:
        raise GroupConflicts(conflicts)
    state = await _save(uow, current, events)
    # The claims checked above can still be taken meanwhile: the constraints then refuse the
    # move (SlotTaken) and the whole transaction, seats and group, rolls back.
    for seat in seats:
        await handlers.follow_group(uow, seat, state.slot, state.room_id)
    if state.slot != current.slot:
        # Seats offered at the old time are withdrawn and offered again at the new one.
        await withdraw_group_offers(uow, group_session_id)
    if on_freed is not None and state.slot != current.slot:
        await on_freed(uow, _freed(current))
        await on_freed(uow, _free_seat(state))
    return await seated(uow, state)


async def change_capacity(
    uow: UnitOfWork,
    group_session_id: UUID,
    command: group_session.ChangeCapacity,
    access: SiteAccess,
    on_freed: handlers.SlotFreed | None = None,
) -> SeatedGroup:
    """Raise or lower the seats (never below those seated or held for an offer); seats raised
    go to the group's waitlist (`on_freed` with a freed seat)."""
    current = await _locked(uow, group_session_id, access)
    seats = await group_session_store.seats_of(uow.conn, group_session_id)
    held = await group_session_store.held_seats(uow.conn, group_session_id)
    events = group_session.change_capacity(current, command, len(seats), held, uow.now())
    state = await _save(uow, current, events) if events else current
    if on_freed is not None and state.capacity > current.capacity:
        await on_freed(uow, _free_seat(state))
    return await seated(uow, state)


async def cancel_group_session(
    uow: UnitOfWork,
    group_session_id: UUID,
    command: group_session.CancelGroupSession,
    access: SiteAccess,
    on_freed: handlers.SlotFreed | None = None,
    group_series_id: UUID | None = None,
) -> SeatedGroup:
    """Cancel the session and every booked seat (each an ordinary cancellation of its
    appointment: late and fee rules as for any appointment). The counselor's time it frees
    goes to the waitlist (`on_freed`), as an appointment's would. `group_series_id`: its
    series' cancellation cancels it (each seat's event says so)."""
    current = await _locked(uow, group_session_id, access)
    events = group_session.cancel(current, command, uow.now())
    state = await _save(uow, current, events)
    await withdraw_group_offers(uow, group_session_id)  # the seats offered are gone too
    await close_group_entries(uow, group_session_id)  # nobody waits for a cancelled group
    per_seat = appointment.CancelAppointment(
        command.reason, command.cancelled_by, group_series_id=group_series_id
    )
    for seat in await group_session_store.seats_of(uow.conn, group_session_id):
        if seat.status is AppointmentStatus.BOOKED:
            await handlers.cancel_appointment(uow, seat.id, per_seat, access)
    if on_freed is not None:
        await on_freed(uow, _freed(current))
    return await seated(uow, state)


async def seated(uow: UnitOfWork, state: GroupSession) -> SeatedGroup:
    seats = await group_session_store.seats_of(uow.conn, state.id)
    return SeatedGroup(state, seats, await group_session_store.held_seats(uow.conn, state.id))


async def _locked(uow: UnitOfWork, group_session_id: UUID, access: SiteAccess) -> GroupSession:
    current = await group_session_store.load_group_session(uow.conn, group_session_id, locked=True)
    if current is None:
        raise UnknownAggregate("group session", group_session_id)
    require_site(access, current.site_id)
    return current


async def _conflicts(
    uow: UnitOfWork, moved: GroupSession, seats: list[Appointment]
) -> list[GroupConflict]:
    """Who holds the counselor, the room or a seated client during `moved`'s new slot."""
    found: list[GroupConflict] = []
    group_claim = claims.of_group_session(moved)
    for resource in group_claim.resources:
        holder = await claims.holder_of(uow.conn, resource, group_claim)
        if holder is not None:
            found.append(_conflict(resource, None, holder))
    for seat in seats:
        seat_claim = claims.of_appointment(replace(seat, slot=moved.slot))
        holder = await claims.holder_of(uow.conn, "client", seat_claim)
        if holder is not None:
            found.append(_conflict("client", seat.client_id, holder))
    return found


def _freed(was: GroupSession) -> FreedSlot:
    return FreedSlot(was.site_id, was.counselor_id, was.room_id, was.modality, was.start, was.end)


def _free_seat(session: GroupSession) -> FreedSlot:
    """A seat of the session, for its own waitlist (the offer counts the free seats)."""
    return replace(_freed(session), group_session_id=session.id)


def _conflict(resource: str, client_id: UUID | None, holder: claims.Holder) -> GroupConflict:
    kind = holder.owner_kind
    return GroupConflict(
        resource,
        client_id,
        conflicting_appointment_id=holder.owner_id if kind == "appointment" else None,
        conflicting_hold_id=holder.owner_id if kind == "hold" else None,
        conflicting_group_session_id=holder.owner_id if kind == KIND else None,
    )


async def _horizon_months(uow: UnitOfWork, site_id: UUID | None) -> int:
    at_site = await projections.load_site(uow.conn, site_id) if site_id else None
    return at_site.booking_horizon_months if at_site else site.DEFAULT_BOOKING_HORIZON_MONTHS


async def _save(
    uow: UnitOfWork,
    current: GroupSession | None,
    events: list[group_session.GroupSessionEvent],
) -> GroupSession:
    ident = current.id if current else events[0].group_session_id
    stream = stream_id(KIND, ident)
    state = await record(
        uow,
        stream,
        current,
        current.version if current else 0,
        events,
        group_session.evolve,
        publishing.group_session_events,
        ident,
    )
    await save_claiming(
        uow,
        lambda: group_session_store.save_group_session(uow.conn, state),
        claims.of_group_session(state),
        stream,
        state.version,
    )
    return state
