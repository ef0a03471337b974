"""One bulk-lane email to each of some staff members about a client (named by id only), in
each one's locale and site zone, held by their quiet hours like any bulk message."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid4

from counseling_shared.codes import NotificationChannel
from counseling_shared.envelope import Envelope
from counseling_shared.tracing import current_trace_headers
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import notification_store
from notify.adapters.recipient_facts import recipient_facts_many
from notify.domain import notification
from notify.domain.codes import Lane, RecipientKind, Template
from notify.domain.notification import Params
from notify.domain.quiet_hours import zone_named


async def email_staff(
    uow: UnitOfWork,
    envelope: Envelope,
    staff_ids: Iterable[UUID],
    site_id: UUID,
    template: Template,
    params: Params,
) -> None:
    staff = list(staff_ids)
    # Every staff member's facts in one query, every message stored in one statement.
    facts = await recipient_facts_many(uow.conn, [(staff_id, site_id) for staff_id in staff])
    requested = []
    for staff_id, known in zip(staff, facts, strict=True):
        zone_name = known.site.timezone if known.site else None
        requested.append(
            notification.request(
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
                quiet_hours=known.preferences.quiet_hours if known.preferences else None,
                zone=zone_named(zone_name) if zone_name else None,
            )
        )
    headers = current_trace_headers()
    await notification_store.add_many(uow.conn, requested, [headers] * len(requested))
