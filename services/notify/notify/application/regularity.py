"""Contact regularity notices to staff (followup's `ContactGapDetected`,
`NegativeContactRecorded`): one bulk-lane email each, in the staff member's locale and their
site's zone, held by their quiet hours like any bulk message. They name the client by id only.

A cool-off holds outreach *to the client*; followup does that by moving the follow-ups. These
notices go to staff, so that urgent matters are handled through people, and pages (crisis lane)
never pass through here."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid4

from counseling_shared.codes import NotificationChannel
from counseling_shared.envelope import Envelope
from counseling_shared.events import ContactGapDetected, IntegrationEvent, NegativeContactRecorded
from counseling_shared.tracing import current_trace_headers
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.adapters.recipient_facts import recipient_facts
from notify.adapters.staff_roles import site_staff_with_roles
from notify.domain import notification
from notify.domain.codes import Lane, RecipientKind, Template
from notify.domain.notification import Params
from notify.domain.quiet_hours import zone_named

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
    await _email_staff(
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
    await _email_staff(uow, envelope, staff, event.site_id, Template.NEGATIVE_CONTACT, params)


async def _email_staff(
    uow: UnitOfWork,
    envelope: Envelope,
    staff_ids: Iterable[UUID],
    site_id: UUID,
    template: Template,
    params: Params,
) -> None:
    headers = current_trace_headers()
    queued = False
    for staff_id in staff_ids:
        facts = await recipient_facts(uow.conn, staff_id, site_id)
        zone_name = facts.site.timezone if facts.site else None
        requested = notification.request(
            notification_id=uuid4(),
            recipient_id=staff_id,
            recipient_kind=RecipientKind.STAFF,
            site_id=site_id,
            lane=Lane.BULK,
            channel=NotificationChannel.EMAIL,
            template=template,
            params=params,
            cause_event_id=envelope.id,
            correlation_id=envelope.correlationid,
            now=uow.now(),
            quiet_hours=facts.preferences.quiet_hours if facts.preferences else None,
            zone=zone_named(zone_name) if zone_name else None,
        )
        await notification_store.add(uow.conn, requested, headers)
        queued = True
    if queued:
        await notification_store.wake(uow.conn, Lane.BULK)
