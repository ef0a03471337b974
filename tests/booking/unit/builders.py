"""Aggregates in a known state, built through their own decide/evolve functions."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from booking.domain import appointment, client, room, site, staff
from booking.domain.appointment import Appointment
from booking.domain.client import Client
from booking.domain.room import Room
from booking.domain.site import Site
from booking.domain.staff import StaffMember
from counseling_shared.codes import Channel, Modality, StaffRole

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def a_site(**fields: Any) -> Site:
    command = site.RegisterSite(
        **({"name": "Riverside", "timezone": "Asia/Seoul", "locale": "ko"} | fields)
    )
    return site.evolve(None, site.register(command, uuid4(), NOW)[0])


def a_staff_member(at: Site, role: StaffRole = StaffRole.COUNSELOR) -> StaffMember:
    command = staff.RegisterStaffMember(at.id, "Dr. Park", role, "park@center.example")
    return staff.evolve(None, staff.register(command, at, uuid4(), NOW)[0])


def a_room(at: Site) -> Room:
    return room.evolve(None, room.register(room.RegisterRoom(at.id, "Room 1"), at, uuid4(), NOW)[0])


def a_client(at: Site) -> Client:
    command = client.RegisterClient(at.id, "Kim", Channel.EMAIL, email="kim@mail.example")
    return client.evolve(None, client.register(command, at, uuid4(), NOW)[0])


def fold(state: Appointment | None, events: list[appointment.AppointmentEvent]) -> Appointment:
    for event in events:
        state = appointment.evolve(state, event)
    assert state is not None
    return state


def an_appointment(
    start: datetime = NOW + timedelta(days=1),
    minutes: int = 50,
    at: Site | None = None,
    appointment_id: UUID | None = None,
) -> Appointment:
    at = at or a_site()
    counselor, who = a_staff_member(at), a_client(at)
    command = appointment.BookAppointment(
        counselor.id, who.id, start, Modality.ONLINE, duration_minutes=minutes
    )
    events = appointment.book(command, appointment_id or uuid4(), counselor, who, None, NOW)
    return fold(None, events)
