"""Contact regularity notices to staff (followup's `ContactGapDetected`,
`NegativeContactRecorded`): one bulk-lane email each, in the staff member's locale and their
site's zone, held by their quiet hours like any bulk message. They name the client by id only.

A cool-off holds outreach *to the client*; followup does that by moving the follow-ups. These
notices go to staff, so that urgent matters are handled through people, and pages (crisis lane)
never pass through here."""

from __future__ import annotations

from counseling_shared.envelope import Envelope
from counseling_shared.events import ContactGapDetected, IntegrationEvent, NegativeContactRecorded
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters.staff_roles import site_staff_with_roles
from notify.application.staff_emails import email_staff
from notify.domain.codes import Template
from notify.domain.notification import Params

SUPERVISING_ROLES = ("supervisor",)
FALLBACK_ROLES = ("site_lead",)
"""A site without a supervisor: its leads are told instead."""


async def on_contact_gap_detected(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    """The counselor of the client's latest session is told (nobody when followup knows none)."""
    assert isinstance(event, ContactGapDetected)
    if event.counselor_id is None:
        return
    last = event.last_positive_contact_at
    params: Params = {
        "client_id": str(event.client_id),
        "last_positive_contact_at": last.isoformat() if last else None,
    }
    await email_staff(
        uow, envelope, [event.counselor_id], event.site_id, Template.CONTACT_GAP, params
    )


async def on_negative_contact_recorded(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    """The site's supervisors (else its leads) are told that a cool-off started."""
    assert isinstance(event, NegativeContactRecorded)
    staff = await site_staff_with_roles(uow.conn, event.site_id, SUPERVISING_ROLES)
    if not staff:
        staff = await site_staff_with_roles(uow.conn, event.site_id, FALLBACK_ROLES)
    until = event.cooloff_until
    params: Params = {
        "client_id": str(event.client_id),
        "cooloff_until": until.isoformat() if until else None,
    }
    await email_staff(uow, envelope, staff, event.site_id, Template.NEGATIVE_CONTACT, params)
