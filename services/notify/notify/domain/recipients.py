"""What notify knows about sites and recipients, learnt from booking's events."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from counseling_shared.codes import Channel


@dataclass(frozen=True)
class Site:
    site_id: UUID
    name: str
    timezone: str
    locale: str


@dataclass(frozen=True)
class StaffMember:
    """A staff member's contact details, kept so pages never depend on booking being up."""

    staff_id: UUID
    site_id: UUID
    name: str
    role: str
    email: str | None
    phone: str | None
    locale: str
    active: bool = True
    announced_at: datetime | None = None  # the StaffRegistered's envelope time


@dataclass(frozen=True)
class ClientProfile:
    """Coded values about a client; the contact details stay in booking."""

    client_id: UUID
    site_id: UUID
    locale: str
    timezone: str
    preferred_channel: Channel
