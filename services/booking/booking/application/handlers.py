"""Command handlers: load, decide, append, project and publish in one unit of work.

Each handler runs inside `run_command`, which retries once when another writer moved the
aggregate's stream first (`ConcurrencyConflict`).
"""

from collections.abc import Callable, Sequence
from typing import TypeVar
from uuid import UUID, uuid4

import asyncpg

from booking.adapters import event_codec, projections
from booking.application import publishing
from booking.application.ports import SiteAccess, require_site
from booking.domain import appointment, client, room, site, staff
from booking.domain.appointment import Appointment
from booking.domain.client import Client
from booking.domain.errors import SlotTaken, UnknownAggregate
from booking.domain.events import DomainEvent
from booking.domain.room import Room
from booking.domain.site import Site
from booking.domain.staff import StaffMember
from counseling_shared.events import IntegrationEvent
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import UnitOfWork

S = TypeVar("S")
E = TypeVar("E", bound=DomainEvent)


def stream_id(kind: str, ident: UUID) -> str:
    """`appointment-<uuid>`, `client-<uuid>`, …: one stream per aggregate."""
    return f"{kind}-{ident}"


async def _record(
    uow: UnitOfWork,
    stream: str,
    state: S | None,
    version: int,
    events: Sequence[E],
    evolve: Callable[[S | None, E], S],
    publish: Callable[[S, E], list[IntegrationEvent]],
    subject: UUID,
) -> S:
    """Append `events` after `version`, fold them into the state and queue public events."""
    await uow.append(stream, version, [event_codec.encode(e) for e in events])
    for event in events:
        state = evolve(state, event)
        for public_event in publish(state, event):
            uow.publish(public_event, subject=subject)
    assert state is not None, "a decision with no events changes nothing"
    return state


# --- sites, staff, rooms -------------------------------------------------------------------


async def register_site(uow: UnitOfWork, command: site.RegisterSite) -> Site:
    site_id = uuid4()
    events = site.register(command, site_id, uow.now())
    state = await _record(
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
    state = await _record(
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
    state = await _record(
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


def _no_public_events(state: Room, event: room.RoomEvent) -> list[IntegrationEvent]:
    return []  # rooms matter only inside booking


async def register_room(uow: UnitOfWork, command: room.RegisterRoom, access: SiteAccess) -> Room:
    require_site(access, command.site_id)
    room_id = uuid4()
    at_site = await projections.load_site(uow.conn, command.site_id)
    events = room.register(command, at_site, room_id, uow.now())
    state = await _record(
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
    uow: UnitOfWork, client_id: UUID, command: client.CorrectContact, access: SiteAccess
) -> Client:
    current = await _client(uow, client_id, access)
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
    state = await _record(
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
    uow: UnitOfWork, command: appointment.BookAppointment, access: SiteAccess
) -> Appointment:
    counselor = await projections.load_staff_member(uow.conn, command.counselor_id)
    if counselor is not None:
        require_site(access, counselor.site_id)
    the_client = await projections.load_client(uow.conn, command.client_id)
    the_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    appointment_id = uuid4()
    now = uow.now()
    events = appointment.book(command, appointment_id, counselor, the_client, the_room, now)
    assert the_client is not None  # book() refused an unknown client
    await _save_client(uow, the_client, client.reopen_for_booking(the_client, now))
    return await _save_appointment(uow, None, events)


async def reschedule_appointment(
    uow: UnitOfWork,
    appointment_id: UUID,
    command: appointment.RescheduleAppointment,
    access: SiteAccess,
) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    new_room = await projections.load_room(uow.conn, command.room_id) if command.room_id else None
    events = appointment.reschedule(current, command, new_room, uow.now())
    return await _save_appointment(uow, current, events)


async def cancel_appointment(
    uow: UnitOfWork,
    appointment_id: UUID,
    command: appointment.CancelAppointment,
    access: SiteAccess,
) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    at_site = await projections.load_site(uow.conn, current.site_id)
    assert at_site is not None  # an appointment's site always exists
    events = appointment.cancel(current, command, at_site.late_window, uow.now())
    return await _save_appointment(uow, current, events)


async def mark_no_show(uow: UnitOfWork, appointment_id: UUID, access: SiteAccess) -> Appointment:
    current = await _appointment(uow, appointment_id, access)
    events = appointment.mark_no_show(current, uow.now())
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
    state = await _record(
        uow,
        stream_id("appointment", ident),
        current,
        current.version if current else 0,
        events,
        appointment.evolve,
        publishing.appointment_events,
        ident,
    )
    try:
        async with uow.conn.transaction():  # savepoint: the lookup below still runs
            await projections.save_appointment(uow.conn, state)
    except asyncpg.ExclusionViolationError as exc:
        resource = projections.RESOURCE_OF_CONSTRAINT.get(exc.constraint_name or "")
        if resource is None:
            raise
        holder = await projections.find_booked_overlap(uow.conn, resource, state)
        if holder is None:
            # The holder moved or was cancelled after we collided with it: try again.
            raise ConcurrencyConflict(stream_id("appointment", ident), state.version) from None
        raise SlotTaken(resource, holder) from None
    return state
