"""Signed webhooks against real PostgreSQL, real NATS and a real local HTTP receiver.

The receiver is a small threaded HTTP server that answers the statuses a test scripts (then
200) and keeps every request it got. Back-off is shrunk to a tenth of a second.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.envelope import wrap
from counseling_shared.events import AppointmentBooked, AppointmentCancelled
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import webhook_store
from notify.application import webhooks
from notify.application.erasure import erase_client
from notify.domain.webhooks.signing import signed_headers
from tests.notify.integration.conftest import (
    CountingConnection,
    Notify,
    Receiver,
    eventually,
    followup_due,
)

pytestmark = pytest.mark.integration

TOLERANCE = timedelta(minutes=5)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {
        "webhook_retry_base": timedelta(milliseconds=100),
        "webhook_retry_max_delay": timedelta(milliseconds=200),
        "webhook_delivery_timeout": 5.0,
    }


def reference_verify(secret: str, headers: dict[str, str], body: bytes, now: datetime) -> None:
    """Standard Webhooks' verification, written out: the timestamp within 5 minutes of now,
    the HMAC-SHA256 of "{id}.{timestamp}.{body}" recomputed with the base64-decoded secret,
    and compared in constant time with each `v1,` signature given."""
    timestamp = int(headers["webhook-timestamp"])
    if abs(now.timestamp() - timestamp) > TOLERANCE.total_seconds():
        raise WebhookVerificationError("timestamp out of tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            return
    raise WebhookVerificationError("no matching signature")


async def subscribe(notify: Notify, site_id: UUID, url: str, types: list[str]) -> dict[str, Any]:
    response = await notify.http.post(
        "/webhooks", json={"site_id": str(site_id), "url": url, "event_types": types}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def booked(site_id: UUID, start: datetime | None = None) -> AppointmentBooked:
    start = start or datetime(2031, 3, 3, 9, tzinfo=UTC)
    return AppointmentBooked(
        appointment_id=uuid4(),
        site_id=site_id,
        client_id=uuid4(),
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(minutes=50),
        modality=Modality.ONLINE,
    )


async def deliveries(notify: Notify, webhook_id: str) -> list[dict[str, Any]]:
    response = await notify.http.get(f"/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_a_receiver_answering_500_500_200_gets_three_signed_attempts_of_one_message(
    notify: Notify, receiver: Receiver
) -> None:
    site_id, other_site = uuid4(), uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    assert hook["secret"].startswith("whsec_")
    receiver.script = [500, 500]

    event = booked(site_id)
    sent = await notify.publish(event, source="booking", subject=event.appointment_id)
    # Neither another type nor another site's event reaches this subscription.
    cancelled = AppointmentCancelled(
        **event.model_dump(), cancelled_by=CancelledBy.CLIENT, late=False
    )
    await notify.publish(cancelled, source="booking", subject=event.appointment_id)
    await notify.publish(booked(other_site), source="booking", subject=uuid4())

    rows = await eventually(lambda: _delivered(notify, hook["id"]), timeout=20.0, interval=0.1)
    assert receiver.answered == [500, 500, 200]
    assert len(receiver.got) == 3
    ids = {r.headers["webhook-id"] for r in receiver.got}
    assert ids == {rows[0]["id"]}
    for request in receiver.got:
        # The reference algorithm accepts each attempt at the moment it was sent...
        sent_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        reference_verify(hook["secret"], request.headers, request.body, sent_at)
        Webhook(hook["secret"]).verify(request.body, request.headers)
        # ...rejects it six minutes later, and rejects an altered body or another secret.
        with pytest.raises(WebhookVerificationError):
            reference_verify(
                hook["secret"], request.headers, request.body, sent_at + timedelta(minutes=6)
            )
        with pytest.raises(WebhookVerificationError):
            reference_verify(hook["secret"], request.headers, request.body + b" ", sent_at)
        other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
        with pytest.raises(WebhookVerificationError):
            reference_verify(other, request.headers, request.body, sent_at)
        assert request.headers["content-type"] == "application/json"
        assert request.event["id"] == str(sent.id)
        assert request.event["type"] == "AppointmentBooked"
        assert request.event["data"]["appointment_id"] == str(event.appointment_id)
        assert request.event["specversion"] == "1.0"

    [row] = rows
    assert row["event_id"] == str(sent.id)
    assert row["status"] == "delivered"
    assert row["attempts"] == 3
    assert row["last_status_code"] == 200
    assert [a["status_code"] for a in row["attempt_log"]] == [500, 500, 200]


async def test_notifys_own_notification_sent_reaches_a_subscriber_signed(
    notify: Notify, receiver: Receiver
) -> None:
    """The catalogue offers notify's own events: a message notify sends comes back to it on its
    stream and goes out through the same durable, signed webhook path as any other event."""
    site_id = await notify.new_site()
    hook = await subscribe(
        notify, site_id, receiver.url, ["NotificationSent", "NotificationFailed"]
    )
    client_id = uuid4()
    notify.directory.add(client_id, email=f"c-{client_id.hex[:8]}@mail.example")

    cause = await notify.publish(
        followup_due(client_id, site_id), source="followup", subject=client_id
    )

    [row] = await eventually(lambda: _delivered(notify, hook["id"]), timeout=20.0, interval=0.1)
    [sent] = await notify.notifications(recipient_id=client_id)
    [request] = receiver.got
    Webhook(hook["secret"]).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == row["id"]
    assert (row["event_type"], request.event["type"]) == ("NotificationSent", "NotificationSent")
    assert request.event["source"] == "notify"
    assert request.event["data"]["notification_id"] == sent["id"]
    assert request.event["data"]["cause_event_id"] == str(cause.id)


async def test_erasing_a_client_drops_the_webhook_deliveries_that_name_them(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    theirs, other = booked(site_id), booked(site_id, datetime(2031, 5, 1, 9, tzinfo=UTC))
    for event in (theirs, other):
        await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _all_delivered(notify, hook["id"], 2), interval=0.1)

    async with notify.pool.acquire() as conn:
        changed = await erase_client(conn, theirs.client_id)

    assert changed["webhook_deliveries"] == 1
    [kept] = await deliveries(notify, hook["id"])
    assert str(theirs.client_id) not in json.dumps(kept)
    assert kept["attempts"] == 1


async def test_the_reference_library_rejects_a_six_minute_old_signature(notify: Notify) -> None:
    hook = await subscribe(notify, uuid4(), "http://127.0.0.1:9/unused", ["AppointmentBooked"])
    body = b'{"id":"x"}'
    now = datetime.now(UTC)
    fresh = signed_headers(hook["secret"], "msg_1", now, body)
    stale = signed_headers(hook["secret"], "msg_1", now - timedelta(minutes=6), body)
    Webhook(hook["secret"]).verify(body, fresh)
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(body, stale)


async def test_a_410_disables_the_subscription_and_a_replay_resends_the_same_message(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    first = booked(site_id)
    await notify.publish(first, source="booking", subject=first.appointment_id)
    [delivered] = await eventually(lambda: _delivered(notify, hook["id"]), interval=0.1)

    replay = await notify.http.post(f"/webhooks/{hook['id']}/deliveries/{delivered['id']}/replay")
    assert replay.status_code == 202, replay.text
    await eventually(lambda: _attempts_at_least(notify, hook["id"], 2), interval=0.1)
    assert [r.headers["webhook-id"] for r in receiver.got] == [delivered["id"]] * 2
    assert receiver.got[0].body == receiver.got[1].body

    # The receiver is gone; while it takes its time to say so, another event queues behind.
    receiver.script, receiver.delay = [410], 1.0
    second = booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    third = booked(site_id, datetime(2031, 3, 5, 9, tzinfo=UTC))
    await notify.publish(second, source="booking", subject=second.appointment_id)
    await notify.publish(third, source="booking", subject=third.appointment_id)
    await eventually(lambda: _webhook_status(notify, hook["id"], "disabled"), interval=0.1)
    fourth = booked(site_id, datetime(2031, 3, 6, 9, tzinfo=UTC))
    await notify.publish(fourth, source="booking", subject=fourth.appointment_id)
    await eventually(lambda: _deliveries_count(notify, hook["id"], 3), interval=0.1)

    rows = await deliveries(notify, hook["id"])
    by_status = {(r["status"], r["last_status_code"], r["last_error"]) for r in rows}
    assert by_status == {
        ("delivered", 200, None),
        ("failed", 410, None),
        ("failed", None, "subscription_disabled"),  # the third never went out
    }
    assert len(receiver.got) == 3  # nothing more is sent to a receiver that is gone
    refused = await notify.http.post(f"/webhooks/{hook['id']}/deliveries/{delivered['id']}/replay")
    assert refused.status_code == 409


async def test_a_subscription_gets_its_events_in_stream_order_even_when_one_is_retried(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    receiver.script = [503, 503]
    events = [booked(site_id, datetime(2031, 4, d, 9, tzinfo=UTC)) for d in (1, 2, 3)]
    for event in events:
        await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _all_delivered(notify, hook["id"], 3), timeout=20.0, interval=0.1)
    order = [r.event["data"]["appointment_id"] for r in receiver.got]
    expected = [str(events[0].appointment_id)] * 3 + [str(e.appointment_id) for e in events[1:]]
    assert order == expected


async def test_a_subscription_to_an_unknown_event_type_is_refused(notify: Notify) -> None:
    site_id = uuid4()
    response = await notify.http.post(
        "/webhooks",
        json={"site_id": str(site_id), "url": "https://x.example/h", "event_types": ["Nope"]},
    )
    assert response.status_code == 422
    assert "Nope" in response.text
    listed = await notify.http.get("/webhooks", params={"site_id": str(site_id)})
    assert listed.json() == []


async def test_subscriptions_are_listed_by_site_without_their_secrets(notify: Notify) -> None:
    site_id = uuid4()
    first = await subscribe(notify, site_id, "https://a.example/h", ["SessionCompleted"])
    second = await subscribe(notify, site_id, "https://b.example/h", ["RiskFlagged"])
    await subscribe(notify, uuid4(), "https://c.example/h", ["RiskFlagged"])

    listed = (await notify.http.get("/webhooks", params={"site_id": str(site_id)})).json()

    assert [w["id"] for w in listed] == [first["id"], second["id"]]
    assert all("secret" not in w for w in listed)


async def _delivered(notify: Notify, webhook_id: str) -> list[dict[str, Any]]:
    rows = await deliveries(notify, webhook_id)
    return rows if rows and rows[0]["status"] == "delivered" else []


async def _deliveries_count(notify: Notify, webhook_id: str, count: int) -> bool:
    return len(await deliveries(notify, webhook_id)) == count


async def _all_delivered(notify: Notify, webhook_id: str, count: int) -> bool:
    rows = await deliveries(notify, webhook_id)
    return len(rows) == count and all(r["status"] == "delivered" for r in rows)


async def _attempts_at_least(notify: Notify, webhook_id: str, count: int) -> bool:
    rows = await deliveries(notify, webhook_id)
    return bool(rows) and rows[0]["attempts"] >= count and rows[0]["status"] == "delivered"


async def _webhook_status(notify: Notify, webhook_id: str, status: str) -> bool:
    response = await notify.http.get(f"/webhooks/{webhook_id}")
    return bool(response.json()["status"] == status)


async def test_a_batch_of_events_is_queued_for_its_subscriptions_in_one_statement_in_order(
    notify: Notify, receiver: Receiver
) -> None:
    site_id, elsewhere = uuid4(), uuid4()
    bookings = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    everything = await subscribe(
        notify, site_id, receiver.url, ["AppointmentBooked", "AppointmentCancelled"]
    )
    first, second = booked(site_id), booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    cancelled = AppointmentCancelled(
        **first.model_dump(), cancelled_by=CancelledBy.CLIENT, late=False
    )
    events = [first, cancelled, booked(elsewhere), second]
    batch = [(wrap(e, source="booking", subject=uuid4()), e) for e in events]
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(notify.settings.database_url)
    try:
        await listener.add_listener(
            webhook_store.WAKE_CHANNEL, lambda *args: woken.put_nowait(args[2])
        )
        async with notify.pool.acquire() as conn, conn.transaction():
            counting = CountingConnection(conn)
            uow = UnitOfWork(counting, source="notify", clock=notify.clock)  # type: ignore[arg-type]
            await webhooks.on_events(uow, batch)
        assert counting.round_trips == 1
        await asyncio.wait_for(woken.get(), timeout=5.0)

        # The same batch again (a redelivery the inbox let through) queues nothing new.
        queued_again = [webhooks.queued_event(envelope) for envelope, _ in batch]
        async with notify.pool.acquire() as conn:
            assert await webhook_store.enqueue_many(conn, queued_again, notify.clock.now()) == 0
    finally:
        await listener.close()

    rows = await notify.pool.fetch(
        """SELECT subscription_id::text AS hook, event_id FROM webhook_deliveries
           WHERE subscription_id = ANY($1::uuid[]) ORDER BY queue_position""",
        [bookings["id"], everything["id"]],
    )
    ids = [envelope.id for envelope, _ in batch]
    queued: dict[str, list[UUID]] = {}
    for r in rows:
        queued.setdefault(r["hook"], []).append(r["event_id"])
    assert queued == {
        bookings["id"]: [ids[0], ids[3]],
        everything["id"]: [ids[0], ids[1], ids[3]],
    }
