"""`Idempotency-Key` on notify's webhook commands (contract: Retries): a retry with the same key
and body changes nothing and answers as the first time (the same secret, for a creation or a
rotation: the integration retrying lost the first answer); another body is a 422. Against
real PostgreSQL and NATS."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from opsctl.config import Service
from tests.keyed_posts import keyed_posts
from tests.notify.integration.conftest import Notify, Receiver, eventually
from tests.notify.integration.test_webhooks import booked, deliveries

pytestmark = pytest.mark.integration


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def _subscriptions(notify: Notify, site_id: Any) -> int:
    count: int = await notify.pool.fetchval(
        "SELECT count(*) FROM webhook_subscriptions WHERE site_id = $1", site_id
    )
    return count


async def test_a_retried_subscription_is_the_first_one_with_its_secret(
    notify: Notify, receiver: Receiver
) -> None:
    site_id, key = uuid4(), str(uuid4())
    body = {"site_id": str(site_id), "url": receiver.url, "event_types": ["AppointmentBooked"]}

    first = await notify.http.post("/webhooks", json=body, headers=keyed(key))
    again = await notify.http.post("/webhooks", json=body, headers=keyed(key))
    other = await notify.http.post(
        "/webhooks", json={**body, "event_types": ["AppointmentCancelled"]}, headers=keyed(key)
    )

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["secret"].startswith("whsec_")
    assert await _subscriptions(notify, site_id) == 1
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    # The secret is shown again to the key's replay only, never to a read.
    assert "secret" not in (await notify.http.get(f"/webhooks/{first.json()['id']}")).json()
    hidden = await notify.http.get(f"/replayed/webhooks/{first.json()['id']}")
    assert hidden.status_code == 404
    assert "secret" not in hidden.text


async def test_a_retried_rotation_rotates_once_and_answers_the_same_secret(
    notify: Notify, receiver: Receiver
) -> None:
    site_id, key = uuid4(), str(uuid4())
    body = {"site_id": str(site_id), "url": receiver.url, "event_types": ["AppointmentBooked"]}
    created = (await notify.http.post("/webhooks", json=body)).json()
    path = f"/webhooks/{created['id']}/rotate-secret"

    first = await notify.http.post(path, headers=keyed(key))
    again = await notify.http.post(path, headers=keyed(key))

    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    secrets = await notify.pool.fetchrow(
        "SELECT secret, previous_secret FROM webhook_subscriptions WHERE id = $1",
        UUID(created["id"]),
    )
    assert secrets is not None
    # Rotated once: the creation's secret still signs alongside the rotation's.
    assert (secrets["secret"], secrets["previous_secret"]) == (
        first.json()["secret"],
        created["secret"],
    )


async def test_a_retried_delivery_replay_requeues_once(notify: Notify, receiver: Receiver) -> None:
    site_id, key = uuid4(), str(uuid4())
    body = {"site_id": str(site_id), "url": receiver.url, "event_types": ["AppointmentBooked"]}
    hook = (await notify.http.post("/webhooks", json=body)).json()
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)

    async def delivered() -> list[dict[str, Any]]:
        rows = await deliveries(notify, hook["id"])
        return rows if rows and rows[0]["status"] == "delivered" else []

    [done] = await eventually(delivered, interval=0.1)
    path = f"/webhooks/{hook['id']}/deliveries/{done['id']}/replay"

    first = await notify.http.post(path, headers=keyed(key))
    again = await notify.http.post(path, headers=keyed(key))

    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["delivery_id"] == first.json()["delivery_id"] == done["id"]
    assert set(again.json()) == set(first.json())
    [row] = await deliveries(notify, hook["id"])
    assert row["replays"] == 1


def test_every_keyed_post_of_notify_is_replayed_above() -> None:
    assert keyed_posts(Service.NOTIFY) == {
        "/webhooks",
        "/webhooks/{webhook_id}/rotate-secret",
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    }
