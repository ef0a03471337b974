"""The Room aggregate: a counseling room at a site, booked for in-person sessions."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from booking.domain.errors import refuse_invalid
from booking.domain.site import Site


@dataclass(frozen=True)
class Room:
    """A room at one site. PostgreSQL keeps two booked sessions out of it at once."""

    id: UUID
    site_id: UUID
    name: str
    registered_at: datetime
    version: int


@dataclass(frozen=True)
class RegisterRoom:
    site_id: UUID
    name: str


@dataclass(frozen=True)
class RoomRegistered:
    room_id: UUID
    site_id: UUID
    name: str
    registered_at: datetime


RoomEvent = RoomRegistered


def register(
    command: RegisterRoom, site: Site | None, room_id: UUID, now: datetime
) -> list[RoomEvent]:
    refuse_invalid(
        {
            "site_id": None if site is not None else "no site with this id",
            "name": None if command.name.strip() else "must not be blank",
        }
    )
    assert site is not None
    return [RoomRegistered(room_id, site.id, command.name.strip(), now)]


def evolve(state: Room | None, event: RoomEvent) -> Room:
    return Room(event.room_id, event.site_id, event.name, event.registered_at, version=1)
