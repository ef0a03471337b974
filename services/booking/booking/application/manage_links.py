"""The client's signed link to confirm or cancel one appointment (`manage_url`).

Booking mints it where it publishes `AppointmentBooked` and `AppointmentRescheduled`, as it
mints a waitlist offer's `accept_url`; followup carries it on the reminder's `FollowUpDue`,
notify shows it. It expires at the appointment's start, and a reschedule's new link replaces
it: the page refuses a link minted for another start (`expires_at` names the start).

The links are set for the command being run (`minting`, from the HTTP entry point) rather than
passed through every handler that books or moves an appointment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import quote

from booking.domain.appointment import Appointment
from counseling_shared.links import LinkSigner, SignedLink

MANAGE_PURPOSE = "appointment-manage"


@dataclass(frozen=True)
class ManageLinks:
    signer: LinkSigner
    base_url: str

    def url_for(self, appointment: Appointment) -> str:
        token = self.signer.sign(
            MANAGE_PURPOSE,
            str(appointment.id),
            expires_at=appointment.start,
            person=str(appointment.client_id),
        )
        base = self.base_url.rstrip("/")
        return f"{base}/appointments/{appointment.id}/manage?token={quote(token)}"


def for_this_start(link: SignedLink, appointment: Appointment) -> bool:
    """Minted for the appointment's current start (a reschedule sent a new link)."""
    return int(link.expires_at.timestamp()) == int(appointment.start.timestamp())


_current: ContextVar[ManageLinks | None] = ContextVar("manage_links", default=None)


@contextmanager
def minting(links: ManageLinks) -> Iterator[None]:
    token = _current.set(links)
    try:
        yield
    finally:
        _current.reset(token)


def manage_url(appointment: Appointment) -> str | None:
    """The link for `appointment`, or None outside a command that mints them (a rebuild)."""
    links = _current.get()
    return links.url_for(appointment) if links is not None else None
