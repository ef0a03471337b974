"""What notify does when a client answers a check-in (followup's `CallbackRequested`): the
counselor of the client's latest session gets one bulk-lane email in their own locale, naming
the client by id only. Nobody is told when followup knows no counselor for the client."""

from __future__ import annotations

from uuid import uuid4

from counseling_shared.codes import NotificationChannel
from counseling_shared.envelope import Envelope
from counseling_shared.events import CallbackRequested, IntegrationEvent
from counseling_shared.tracing import current_trace_headers
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.adapters.recipient_facts import recipient_facts
from notify.domain import notification
from notify.domain.codes import Lane, RecipientKind, Template
from notify.domain.quiet_hours import zone_named


async def on_callback_requested(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, CallbackRequested)
    if event.counselor_id is None:
        return
    facts = await recipient_facts(uow.conn, event.counselor_id, event.site_id)
    zone_name = facts.site.timezone if facts.site else None
    requested = notification.request(
        notification_id=uuid4(),
        recipient_id=event.counselor_id,
        recipient_kind=RecipientKind.STAFF,
        site_id=event.site_id,
        lane=Lane.BULK,
        channel=NotificationChannel.EMAIL,
        template=Template.CALLBACK_REQUESTED,
        params={"client_id": str(event.client_id), "followup_id": str(event.followup_id)},
        cause_event_id=envelope.id,
        correlation_id=envelope.correlationid,
        now=uow.now(),
        quiet_hours=facts.preferences.quiet_hours if facts.preferences else None,
        zone=zone_named(zone_name) if zone_name else None,
    )
    await notification_store.add(uow.conn, requested, current_trace_headers())
    await notification_store.wake(uow.conn, Lane.BULK)
