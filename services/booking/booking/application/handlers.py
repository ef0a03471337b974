"""Command handlers: load, decide, append, project and publish in one unit of work.

Each handler runs inside `run_command`, which retries once when another writer moved the
aggregate's stream first (`ConcurrencyConflict`).
"""

from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from booking.adapters import claims, closures_store, projections, scheduling_store
from booking.application import publishing
from booking.application.claiming import insert_claiming, save_claiming
from booking.application.closures import check_open, check_open_with
from booking.application.holding import consume_hold as release_hold_for
from booking.application.ports import PeopleOnly, SiteAccess, require_site
from booking.application.recording import encode, fold, record, stream_id
from booking.domain import appointment, client, room, site, staff
from booking.domain.appointment import Appointment
from booking.domain.client import Client
from booking.domain.errors import UnknownAggregate
from booking.domain.room import Room
from booking.domain.scheduling import holds
from booking.domain.scheduling.rules import Fee
from booking.domain.scheduling.waitlist import FreedSlot
from booking.domain.site import Site
from booking.domain.slots import TimeSlot
from booking.domain.staff import StaffMember
from counseling_shared.events import IntegrationEvent
from counseling_shared.unit_of_work import UnitOfWork

SlotFreed = Callable[[UnitOfWork, FreedSlot], Awaitable[object]]
"""Called in the same transaction when a command frees a future slot (the waitlist's offer)."""

# --- sites, staff, rooms -------------------------------------------------------------------


async def register_site(uow: UnitOfWork, command: site.RegisterSite) -> Site:
    site_id = uuid4()
    events = site.register(command, site_id, uow.now())
    state = await record(
        uow,
        stream_id("site", site_id),
        None,
        0,
        events,
        site.evolve,
        publishing.site_events,
        site_id,
    )
    await projections.save_site(uow.conn, state)
    return state


async def register_staff_member(
    uow: UnitOfWork, command: staff.RegisterStaffMember, access: SiteAccess
) -> StaffMember:
    require_site(access, command.site_id)
    staff_id = uuid4()
    at_site = await projections.load_site(uow.conn, command.site_id)
    events = staff.register(command, at_site, staff_id, uow.now())
    state = await record(
        uow,
        stream_id("staff", staff_id),
        None,
        0,
        events,
        staff.evolve,
        publishing.staff_events,
        staff_id,
    )
    await projections.save_staff_member(uow.conn, state)
    return state


async def deactivate_staff_member(
    uow: UnitOfWork, staff_id: UUID, access: SiteAccess
) -> StaffMember:
    current = await projections.load_staff_member(uow.conn, staff_id)
    if current is None:
        raise UnknownAggregate("staff member", staff_id)
    require_site(access, current.site_id)
    events = staff.deactivate(current, uow.now())
    if not events:
        return current
    state = await record(
        uow,
        stream_id("staff", staff_id),
        current,
        current.version,
        events,
        staff.evolve,
        publishing.staff_events,
        staff_id,
    )
    await projections.save_staff_member(uow.conn, state)
    return state


async def change_staff_contact(
    uow: UnitOfWork, staff_id: UUID, command: staff.ChangeStaffContact, access: SiteAccess
) -> StaffMember:
    current = await projections.load_staff_member(uow.conn, staff_id)
    if current is None:
        raise UnknownAggregate("staff member", staff_id)
    require_site(access, current.site_id)
    return await _save_staff(uow, current, staff.change_contact(current, command, uow.now()))


async def announce_staff_again(uow: UnitOfWork, current: StaffMember) -> StaffMember:
    """Publish the member's details again (`counselctl staff reannounce`)."""
    return await _save_staff(uow, current, staff.announce_again(current, uow.now()))


async def _save_staff(
    uow: UnitOfWork, current: StaffMember, events: Sequence[staff.StaffEvent]
) -> StaffMember:
    if not events:
        return current
    state = await record(
        uow,
        stream_id("staff", current.id),
        current,
        current.version,
        events,
        staff.evolve,
        publishing.staff_events,
        current.id,
    )
    await projections.save_staff_member(uow.conn, state)
    return state


def _no_public_events(state: Room, event: room.RoomEvent) -> list[IntegrationEvent]:
    return []  # rooms matter only inside booking


async def register_room(uow: UnitOfWork, command: room.RegisterRoom, access: SiteAccess) -> Room:
    require_site(access, command.site_id)
    room_id = uuid4()
    at_site = await projections.load_site(uow.conn, command.site_id)
    events = room.register(command, at_site, room_id, uow.now())
    state = await record(
        uow, stream_id("room", room_id), None, 0, events, room.evolve, _no_public_events, room_id
    )
    await projections.save_room(uow.conn, state)
    return state


# --- clients -------------------------------------------------------------------------------


async def register_client(
    uow: UnitOfWork, command: client.RegisterClient, access: SiteAccess
) -> Client:
    require_site(access, command.site_id)
    client_id = uuid4()
    at_site = await projections.load_site(uow.conn, command.site_id)
    events = client.register(command, at_site, client_id, uow.now())
    return await _save_client(uow, None, events)


async def close_care_episode(
    uow: UnitOfWork, client_id: UUID, command: client.CloseCareEpisode, access: SiteAccess
) -> Client:
    current = await _client(uow, client_id, access)
    events = client.close_episode(current, command, uow.now())
    return await _save_client(uow, current, events)


async def correct_client_contact(
    uow: UnitOfWork,
    client_id: UUID,
    command: client.CorrectContact,
    access: SiteAccess,
    *,
    may_change_addresses: bool = True,
) -> Client:
    """`may_change_addresses` False (an integration): an email or phone other than the
    current one is refused (PeopleOnly); sending the current one, as a sync does, is not."""
    current = await _client(uow, client_id, access)
    if not may_change_addresses and client.changes_an_address(current, command):
        raise PeopleOnly("Only a person (a staff or admin key) changes a client's email or phone.")
    events = client.correct_contact(current, command, uow.now())
    return await _save_client(uow, current, events)


async def _client(uow: UnitOfWork, client_id: UUID, access: SiteAccess) -> Client:
    current = await projections.load_client(uow.conn, client_id)
    if current is None:
        raise UnknownAggregate("client", client_id)
    require_site(access, current.site_id)
    return current


async def _save_client(
    uow: UnitOfWork, current: Client | None, events: Sequence[client.ClientEvent]
) -> Client:
    if not events:
        assert current is not None
        return current
    ident = current.id if current else events[0].client_id
    state = await record(
        uow,
        stream_id("client", ident),
        current,
        current.version if current else 0,
        events,
        client.evolve,
        publishing.client_events,
        ident,
    )
    await projections.save_client(uow.conn, state)
    return state


# --- appointments --------------------------------------------------------------------------


async def book_appointment(
    uow: UnitOfWork,
    command: appointment.BookAppointment,
    access: SiteAccess,
    hold_id: UUID | None = None,
    *,
    allow_closed_site: bool = False,
    seat_names_resource: bool = True,
) -> Appointment:
    """Book a session. `allow_closed_site`: an admin books on a day the site is closed (the
    route checks the role); otherwise such a day is refused (`SiteClosed`).
    `seat_names_resource`: False when a group's seat is one of several the command takes
    (a series' seats: its replay answers the series)."""
    # The first statement: with the request's key lock and look-up when the route asks.
    parties = await uow.first_read(
        projections.BOOKING_PARTIES, command.counselor_id, command.client_id
    )
    counselor, the_client, horizon = projections.booking_parties_from(parties)
    if counselor is not None:
        require_site(access, counselor.site_id)
    the_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    appointment_id = uuid4()
    now = uow.now()
    events = appointment.book(
        command,
        appointment_id,
        counselor,
        the_client,
        the_room,
        now,
        horizon if horizon is not None else site.DEFAULT_BOOKING_HORIZON_MONTHS,
    )
    assert the_client is not None  # book() refused an unknown client
    booked = events[0]
    assert isinstance(booked, appointment.AppointmentBooked)
    check_open_with(
        closures_store.closures_from(parties["site_closures"]),
        ZoneInfo(parties["site_timezone"]),
        booked.start,
        booked.end,
        allow_closed_site,
    )
    if command.group_session_id is not None and seat_names_resource:
        # A replay of a seat's request answers the seat, not its group session.
        uow.name_resource(appointment_id, f"/appointments/{appointment_id}")
    if hold_id is not None:
        # Same transaction: the hold's claim goes as the appointment's comes, so nobody
        # else can slip into the slot between them.
        # A replay answers the appointment, not the hold released first (from `/appointments`
        # or from a waitlist offer's link).
        uow.name_resource(appointment_id, f"/appointments/{appointment_id}")
        await consume_hold(uow, hold_id, booked)
    await _save_client(uow, the_client, client.reopen_for_booking(the_client, now))
    return await _save_appointment(uow, None, events)


async def _horizon_months(uow: UnitOfWork, site_id: UUID | None) -> int:
    at_site = await projections.load_site(uow.conn, site_id) if site_id else None
    return at_site.booking_horizon_months if at_site else site.DEFAULT_BOOKING_HORIZON_MONTHS


async def reschedule_appointment(
    uow: UnitOfWork,
    appointment_id: UUID,
    command: appointment.RescheduleAppointment,
    access: SiteAccess,
    on_freed: SlotFreed | None = None,
    *,
    allow_closed_site: bool = False,
) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    new_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    horizon = await _horizon_months(uow, current.site_id)
    events = appointment.reschedule(current, command, new_room, uow.now(), horizon)
    moved_to = events[0]
    assert isinstance(moved_to, appointment.AppointmentRescheduled)
    await check_open(
        uow.conn,
        current.site_id,
        moved_to.start,
        moved_to.end,
        allow_closed_site=allow_closed_site,
    )
    moved = await _save_appointment(uow, current, events)
    if on_freed is not None and moved.slot != current.slot:
        await on_freed(uow, _freed(current))
    return moved


async def follow_group(
    uow: UnitOfWork, seat: Appointment, slot: TimeSlot, room_id: UUID | None
) -> Appointment:
    """A booked seat moves with its group session (the group's handler decided the move)."""
    events = appointment.move_with_group(seat, slot, room_id, uow.now())
    return await _save_appointment(uow, seat, events)


async def cancel_appointment(
    uow: UnitOfWork,
    appointment_id: UUID,
    command: appointment.CancelAppointment,
    access: SiteAccess,
    on_freed: SlotFreed | None = None,
    vet: Callable[[Sequence[appointment.AppointmentEvent]], None] | None = None,
) -> Appointment:
    """`vet` sees the cancellation's events before they are saved and may refuse them by
    raising (a text reply: the fee charged must be the one announced, read in this
    transaction, not before it)."""
    current = await _appointment(uow, appointment_id, access)
    at_site = await projections.load_site(uow.conn, current.site_id)
    assert at_site is not None  # an appointment's site always exists
    fee = await _missed_session_fee(uow, current.site_id)
    events = appointment.cancel(current, command, at_site.late_window, uow.now(), fee)
    if vet is not None:
        vet(events)
    cancelled = await _save_appointment(uow, current, events)
    # A group seat frees a seat, not the counselor's time: it goes to the group's own waitlist
    # (the freed slot names the group).
    if on_freed is not None:
        await on_freed(uow, _freed(current))
    return cancelled


async def confirm_appointment(
    uow: UnitOfWork, appointment_id: UUID, access: SiteAccess
) -> Appointment:
    """The client confirms; a second confirmation records nothing (`appointment.confirm`)."""
    current = await _appointment(uow, appointment_id, access)
    events = appointment.confirm(current, uow.now())
    if not events:
        return current
    return await _save_appointment(uow, current, events)


def _freed(was: Appointment) -> FreedSlot:
    return FreedSlot(
        was.site_id,
        was.counselor_id,
        was.room_id,
        was.modality,
        was.start,
        was.end,
        was.group_session_id,
    )


async def _missed_session_fee(uow: UnitOfWork, site_id: UUID) -> Fee | None:
    site_rules = await scheduling_store.load_rules(uow.conn, site_id)
    return site_rules.missed_session_fee if site_rules else None


async def mark_no_show(uow: UnitOfWork, appointment_id: UUID, access: SiteAccess) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    fee = await _missed_session_fee(uow, current.site_id)
    events = appointment.mark_no_show(current, uow.now(), fee)
    return await _save_appointment(uow, current, events)


async def complete_session(
    uow: UnitOfWork,
    appointment_id: UUID,
    command: appointment.CompleteSession,
    access: SiteAccess,
) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    events = appointment.complete(current, command, uuid4(), uow.now())
    return await _save_appointment(uow, current, events)


async def _appointment(uow: UnitOfWork, appointment_id: UUID, access: SiteAccess) -> Appointment:
    current = await projections.load_appointment(uow.conn, appointment_id)
    if current is None:
        raise UnknownAggregate("appointment", appointment_id)
    require_site(access, current.site_id)
    return current


async def _save_appointment(
    uow: UnitOfWork, current: Appointment | None, events: Sequence[appointment.AppointmentEvent]
) -> Appointment:
    ident = current.id if current else events[0].appointment_id
    stream = stream_id("appointment", ident)
    if current is None:
        # A new appointment's events, row and claim go in one round trip.
        state = fold(uow, None, events, appointment.evolve, publishing.appointment_events, ident)
        await insert_claiming(uow, state, stream, encode(events))
    else:
        state = await record(
            uow,
            stream,
            current,
            current.version,
            events,
            appointment.evolve,
            publishing.appointment_events,
            ident,
        )
        await save_claiming(
            uow,
            lambda: projections.save_appointment(uow.conn, state),
            claims.of_appointment(state),
            stream,
            state.version,
        )
    return state


async def consume_hold(
    uow: UnitOfWork, hold_id: UUID, booked: appointment.AppointmentBooked
) -> None:
    wanted = holds.Booking(
        booked.counselor_id,
        booked.client_id,
        booked.room_id,
        booked.modality,
        TimeSlot(booked.start, booked.end),
    )
    await release_hold_for(uow, hold_id, wanted, booked.appointment_id)
