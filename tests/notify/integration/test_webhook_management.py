"""Managing a webhook subscription after it is created: `PATCH` (URL, event types,
re-enabling), `DELETE`, and secret rotation with both secrets signing during the overlap,
against real PostgreSQL, real NATS and a real local HTTP receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from counseling_shared.codes import CancelledBy
from counseling_shared.events import AppointmentCancelled
from notify.adapters import webhook_store
from tests.notify.integration.conftest import Notify, Receiver, eventually
from tests.notify.integration.test_webhooks import booked, deliveries, reference_verify, subscribe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {
        "webhook_retry_base": timedelta(milliseconds=100),
        "webhook_retry_max_delay": timedelta(milliseconds=200),
        "webhook_delivery_timeout": 5.0,
    }


async def _rows_where(notify: Notify, webhook_id: str, check: Any) -> list[dict[str, Any]]:
    rows = await deliveries(notify, webhook_id)
    return rows if rows and all(check(r) for r in rows) else []


async def _tried(notify: Notify, webhook_id: str) -> list[dict[str, Any]]:
    return await _rows_where(notify, webhook_id, lambda r: r["attempts"] >= 1)


async def _delivered(notify: Notify, webhook_id: str, count: int) -> list[dict[str, Any]]:
    rows = await _rows_where(notify, webhook_id, lambda r: r["status"] == "delivered")
    return rows if len(rows) == count else []


async def test_a_queued_delivery_follows_the_subscription_to_its_new_url(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    old_receiver = Receiver(url="http://127.0.0.1:9/gone")  # nothing listens: it is retried
    hook = await subscribe(notify, site_id, old_receiver.url, ["AppointmentBooked"])
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    [queued] = await eventually(lambda: _tried(notify, hook["id"]), interval=0.1)
    assert queued["status"] == "pending"

    changed = await notify.http.patch(f"/webhooks/{hook['id']}", json={"url": receiver.url})

    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == receiver.url
    assert changed.json()["event_types"] == ["AppointmentBooked"]  # left out: unchanged
    assert "secret" not in changed.json()
    [row] = await eventually(lambda: _delivered(notify, hook["id"], 1), interval=0.1)
    assert row["id"] == queued["id"]
    assert [r.headers["webhook-id"] for r in receiver.got] == [queued["id"]]
    Webhook(hook["secret"]).verify(receiver.got[0].body, receiver.got[0].headers)
    assert (await notify.http.get(f"/webhooks/{hook['id']}")).json()["url"] == receiver.url


async def test_changed_event_types_decide_what_is_queued_next(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    changed = await notify.http.patch(
        f"/webhooks/{hook['id']}", json={"event_types": ["AppointmentCancelled"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["AppointmentCancelled"]

    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    cancelled = AppointmentCancelled(
        **event.model_dump(), cancelled_by=CancelledBy.CLIENT, late=False
    )
    await notify.publish(cancelled, source="booking", subject=event.appointment_id)

    await eventually(lambda: _delivered(notify, hook["id"], 1), interval=0.1)
    assert [r.event["type"] for r in receiver.got] == ["AppointmentCancelled"]


async def test_a_subscription_disabled_by_a_410_is_re_enabled_and_delivers_again(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    receiver.script = [410]
    first = booked(site_id)
    await notify.publish(first, source="booking", subject=first.appointment_id)
    await eventually(lambda: _status(notify, hook["id"], "disabled"), interval=0.1)

    enabled = await notify.http.patch(f"/webhooks/{hook['id']}", json={"status": "active"})

    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["status"] == "active"
    assert enabled.json()["disabled_reason"] is None
    async with notify.pool.acquire() as conn:
        disabled_at = await conn.fetchval(
            "SELECT disabled_at FROM webhook_subscriptions WHERE id = $1", UUID(hook["id"])
        )
    assert disabled_at is None
    second = booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    await notify.publish(second, source="booking", subject=second.appointment_id)
    [second_row, first_row] = await eventually(
        lambda: _delivered_after(notify, hook["id"]), interval=0.1
    )
    assert (second_row["status"], first_row["status"]) == ("delivered", "failed")
    assert receiver.answered == [410, 200]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "disabled"},
        {"url": None},
        {"event_types": []},
        {"event_types": ["Nope"]},
        {"url": "ftp://x.example/h"},
        {"secret": "whsec_AAAA"},
    ],
    ids=["empty", "disable", "null-url", "no-types", "unknown-type", "not-http", "unknown-field"],
)
async def test_a_bad_change_is_refused_and_nothing_changes(
    notify: Notify, body: dict[str, Any]
) -> None:
    hook = await subscribe(notify, uuid4(), "https://a.example/h", ["AppointmentBooked"])

    response = await notify.http.patch(f"/webhooks/{hook['id']}", json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    after = (await notify.http.get(f"/webhooks/{hook['id']}")).json()
    assert (after["url"], after["event_types"]) == ("https://a.example/h", ["AppointmentBooked"])


async def test_a_deleted_subscription_is_gone_and_its_pending_deliveries_are_given_up(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    receiver.script = [503] * 1000  # it keeps failing: the delivery stays pending
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _tried(notify, hook["id"]), interval=0.1)
    assert (await notify.http.post(f"/webhooks/{hook['id']}/rotate-secret")).status_code == 200

    deleted = await notify.http.delete(f"/webhooks/{hook['id']}")

    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    path = f"/webhooks/{hook['id']}"
    for method, url in [
        ("GET", path),
        ("GET", f"{path}/deliveries"),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", f"{path}/rotate-secret"),
    ]:
        json = {"url": receiver.url} if method == "PATCH" else None
        response = await notify.http.request(method, url, json=json)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    listed = await notify.http.get("/webhooks", params={"site_id": str(site_id)})
    assert listed.json() == []

    tried = len(receiver.got)
    later = booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    await notify.publish(later, source="booking", subject=later.appointment_id)
    await asyncio.sleep(0.6)  # several back-off periods (0.1-0.2 s): nothing more goes out
    assert len(receiver.got) <= tried + 1  # at most the attempt already out when deleted
    async with notify.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT event_id, status, last_error, attempts FROM webhook_deliveries
               WHERE subscription_id = $1""",
            UUID(hook["id"]),
        )
    [kept] = rows  # its history stays; the later event was not queued
    assert (kept["status"], kept["last_error"]) == ("failed", "subscription_deleted")
    assert kept["attempts"] >= 1
    secrets = await notify.pool.fetchrow(
        "SELECT secret, previous_secret FROM webhook_subscriptions WHERE id = $1",
        UUID(hook["id"]),
    )
    assert secrets is not None
    assert (secrets["secret"], secrets["previous_secret"]) == ("", None)  # nothing signs again


async def test_an_attempt_out_when_the_subscription_is_deleted_is_not_retried(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    receiver.script, receiver.delay = [503] * 1000, 0.5  # it will fail, after a while
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _received(receiver, 1), interval=0.02)

    deleted = await notify.http.delete(f"/webhooks/{hook['id']}")  # while the 503 is on its way

    assert deleted.status_code == 204, deleted.text
    async with notify.pool.acquire() as conn:
        row = await eventually(lambda: _recorded_attempt(conn, hook["id"]), interval=0.05)
    assert (row["status"], row["last_error"]) == ("failed", "subscription_deleted")
    await asyncio.sleep(0.6)  # past the back-off (0.1-0.2 s): no retry goes out
    assert len(receiver.got) == 1


async def test_a_410_answered_after_the_subscription_was_deleted_leaves_it_deleted(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    receiver.script, receiver.delay = [410], 0.5  # gone, said after a while
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _received(receiver, 1), interval=0.02)

    deleted = await notify.http.delete(f"/webhooks/{hook['id']}")  # while the 410 is on its way

    assert deleted.status_code == 204, deleted.text
    async with notify.pool.acquire() as conn:
        await eventually(lambda: _recorded_attempt(conn, hook["id"]), interval=0.05)
        status = await conn.fetchval(
            "SELECT status FROM webhook_subscriptions WHERE id = $1", UUID(hook["id"])
        )
    assert status == "deleted"
    assert (await notify.http.get(f"/webhooks/{hook['id']}")).status_code == 404


async def test_an_attempt_recorded_while_its_subscription_is_being_deleted_does_not_deadlock(
    notify: Notify, receiver: Receiver
) -> None:
    """The worker records an attempt (delivery, then subscription, it once took them in) while
    a DELETE holds the subscription and is about to give up its pending deliveries."""
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    subscription_id = UUID(hook["id"])
    receiver.script, receiver.delay = [503] * 1000, 0.5
    event = booked(site_id)
    await notify.publish(event, source="booking", subject=event.appointment_id)
    await eventually(lambda: _received(receiver, 1), interval=0.02)  # the attempt is out

    async with notify.pool.acquire() as deleting, deleting.transaction():
        # The DELETE's first statement: the subscription is held until this commits.
        await deleting.execute(
            "UPDATE webhook_subscriptions SET status = 'deleted', deleted_at = now() WHERE id = $1",
            subscription_id,
        )
        # The 503 comes back and the worker records it, waiting for the subscription.
        await eventually(lambda: _waiting_for_a_lock(deleting), interval=0.02)
        # The DELETE's second statement, its pending deliveries: it must not wait for the
        # worker (a deadlock: one of the two would be rolled back).
        await webhook_store.delete_subscription(deleting, subscription_id, notify.clock.now())

    async with notify.pool.acquire() as conn:
        row = await eventually(lambda: _recorded_attempt(conn, hook["id"]), interval=0.05)
    assert (row["status"], row["last_error"]) == ("failed", "subscription_deleted")


async def _waiting_for_a_lock(conn: Any) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'
                 AND pid <> pg_backend_pid()"""
        )
    )


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.got) >= count


async def _recorded_attempt(conn: Any, webhook_id: str) -> Any:
    return await conn.fetchrow(
        """SELECT status, last_error FROM webhook_deliveries
           WHERE subscription_id = $1 AND attempts = 1""",
        UUID(webhook_id),
    )


async def test_after_a_rotation_either_secret_verifies_until_the_overlap_ends(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    old = hook["secret"]

    rotated = await notify.http.post(f"/webhooks/{hook['id']}/rotate-secret")

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert abs(expires - (notify.clock.now() + timedelta(hours=24))) < timedelta(minutes=1)
    shown = (await notify.http.get(f"/webhooks/{hook['id']}")).json()
    assert "secret" not in shown
    assert shown["previous_secret_expires_at"] == rotated.json()["previous_secret_expires_at"]

    first = booked(site_id)
    await notify.publish(first, source="booking", subject=first.appointment_id)
    await eventually(lambda: _delivered(notify, hook["id"], 1), interval=0.1)
    [during] = receiver.got
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    # The reference library: a receiver holding either secret accepts it, another does not.
    Webhook(new).verify(during.body, during.headers)
    Webhook(old).verify(during.body, during.headers)
    stranger = (await notify.http.post("/webhooks/" + hook["id"] + "/rotate-secret")).json()
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger["secret"]).verify(during.body, during.headers)

    # Past the overlap only the newest secret signs (the first one was dropped by the
    # second rotation; the second one's overlap is over too).
    try:
        notify.clock.jump_to(notify.clock.now() + timedelta(hours=24, minutes=1))
        second = booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
        await notify.publish(second, source="booking", subject=second.appointment_id)
        await eventually(lambda: _delivered(notify, hook["id"], 2), interval=0.1)
    finally:
        notify.clock.offset = timedelta(0)
    after = receiver.got[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    sent_at = datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), UTC)
    reference_verify(stranger["secret"], after.headers, after.body, sent_at)
    for retired in (old, new):
        with pytest.raises(WebhookVerificationError):
            reference_verify(retired, after.headers, after.body, sent_at)
    kept = await notify.pool.fetchval(
        "SELECT previous_secret FROM webhook_subscriptions WHERE id = $1", UUID(hook["id"])
    )
    assert kept is None  # a secret past its overlap is not kept either


async def _delivered_after(notify: Notify, webhook_id: str) -> list[dict[str, Any]]:
    rows = await deliveries(notify, webhook_id)
    return rows if len(rows) == 2 and rows[0]["status"] == "delivered" else []


async def _status(notify: Notify, webhook_id: str, status: str) -> bool:
    response = await notify.http.get(f"/webhooks/{webhook_id}")
    return bool(response.json()["status"] == status)


async def test_each_change_is_in_the_audit_trail_under_its_site_and_webhook(
    notify: Notify,
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, "https://a.example/h", ["AppointmentBooked"])
    path = f"/webhooks/{hook['id']}"
    assert (await notify.http.patch(path, json={"url": "https://b.example/h"})).is_success
    assert (await notify.http.post(f"{path}/rotate-secret")).is_success
    assert (await notify.http.delete(path)).is_success

    async def changes() -> list[tuple[str, str | None, int]]:
        page = await notify.http.get("/audit", params={"site_id": str(site_id)})
        found = [(e["action"], e["resource_id"], e["status"]) for e in page.json()["items"]]
        return found if len(found) == 4 else []

    assert await eventually(changes) == [
        ("post_webhook", hook["id"], 201),
        ("patch_webhook", hook["id"], 200),
        ("rotate_webhook_secret", hook["id"], 200),
        ("delete_webhook", hook["id"], 204),
    ]
