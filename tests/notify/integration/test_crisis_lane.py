"""The crisis lane never waits behind bulk mail: a page overtakes a backlog of thousands.

The delivery backlog (3000 follow-ups due before the page) is queued directly through notify's
own store in one transaction, because consuming 3000 events takes longer than this test may
(the event path is covered by test_delivery). On top of it, 500 more FollowUpDue events are
published just before the page, so the follow-up consumer is busy while the page arrives on its
own consumer.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel, FollowUpKind, NotificationChannel
from counseling_shared.envelope import wrap
from counseling_shared.events import FollowUpDue, PageRequested
from notify.adapters import notification_store
from notify.domain import notification
from notify.domain.codes import Lane, RecipientKind, Template
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration

BACKLOG = 3000
MORE_EVENTS = 500
SLOW_PROVIDER_SECONDS = 0.1


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"bulk_workers": 4, "crisis_workers": 2}


async def queue_followups(notify: Notify, site_id: UUID, clients: list[UUID]) -> None:
    async with notify.pool.acquire() as conn, conn.transaction():
        for n in range(BACKLOG):
            requested = notification.request(
                notification_id=uuid4(),
                recipient_id=clients[n % len(clients)],
                recipient_kind=RecipientKind.CLIENT,
                site_id=site_id,
                lane=Lane.BULK,
                channel=NotificationChannel.SMS,
                template=Template.FOLLOWUP_DUE,
                params={"followup_id": str(uuid4()), "kind": "checkin"},
                cause_event_id=uuid4(),
                now=notify.clock.now(),
            )
            await notification_store.add(conn, requested, {})
        await notification_store.wake(conn, Lane.BULK)


async def publish_followups(notify: Notify, site_id: UUID, clients: list[UUID]) -> None:
    acks = []
    for n in range(MORE_EVENTS):
        client_id = clients[n % len(clients)]
        envelope = wrap(
            FollowUpDue(
                followup_id=uuid4(),
                client_id=client_id,
                site_id=site_id,
                kind=FollowUpKind.CHECKIN,
                due_at=datetime.now(UTC),
            ),
            source="followup",
            subject=client_id,
        )
        acks.append(
            await notify.js.publish_async(
                envelope.nats_subject,
                envelope.encode(),
                stream="FOLLOWUP",
                headers={"Nats-Msg-Id": str(envelope.id)},
            )
        )
    await asyncio.gather(*acks)


async def test_a_page_is_delivered_while_thousands_of_followups_still_wait(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33611111111")
    clients = [uuid4() for _ in range(50)]
    for n, client_id in enumerate(clients):
        notify.directory.add(client_id, phone=f"+1555{n:07d}", preferred_channel=Channel.SMS)
    # Every SMS takes a while at the provider, so the bulk lane drains at most
    # bulk_workers / SLOW_PROVIDER_SECONDS messages a second.
    notify.sinks.http.set_delay(SLOW_PROVIDER_SECONDS)
    await queue_followups(notify, site_id, clients)

    async def bulk_lane_busy() -> bool:
        sent = await notify.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE site_id = $1 AND status = 'sent'", site_id
        )
        return bool(sent)

    await eventually(bulk_lane_busy)
    await publish_followups(notify, site_id, clients)
    alert_id = uuid4()
    await notify.publish(
        PageRequested(
            alert_id=alert_id, page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
        ),
        source="crisis",
        subject=alert_id,
    )

    async def page_sent() -> list[Any]:
        rows = await notify.pool.fetch(
            """SELECT channel, created_at, sent_at FROM notifications
               WHERE recipient_id = $1 AND status = 'sent'""",
            staff_id,
        )
        return rows if len(rows) == 2 else []

    page = await eventually(page_sent, timeout=30.0)
    page_delivered_at = max(r["sent_at"] for r in page)
    bulk = await notify.pool.fetchrow(
        """SELECT count(*) FILTER (WHERE created_at < $2) AS queued_before_page,
                  count(*) FILTER (WHERE status = 'sent' AND sent_at <= $3) AS sent_before_page
           FROM notifications WHERE site_id = $1 AND lane = 'bulk'""",
        site_id,
        min(r["created_at"] for r in page),
        page_delivered_at,
    )
    assert bulk is not None
    notify.sinks.http.set_delay(0.0)
    # At least the whole backlog was queued before the page was asked for...
    assert bulk["queued_before_page"] >= BACKLOG
    # ...and the page went out while most of it still waited: one first-come lane would
    # have sent every one of them first.
    assert bulk["sent_before_page"] < BACKLOG // 2

    async def events_consumed() -> bool:
        queued = await notify.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE site_id = $1 AND lane = 'bulk'", site_id
        )
        return bool(queued == BACKLOG + MORE_EVENTS)

    # The follow-up consumer kept going meanwhile (and leaves nothing behind on a shared NATS).
    await eventually(events_consumed, timeout=120.0, interval=0.2)  # generous under load
