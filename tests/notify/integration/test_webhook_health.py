"""A subscription held back by a failing head delivery, against real PostgreSQL, NATS and a
local HTTP receiver, with the clock moved a day forward: the deliveries queued behind it keep
their own 24 h of retries, and the held state shows in the API and the gauges."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from notify.entrypoints.webhook_gauges import refresh_once
from tests.notify.integration.conftest import Notify, Receiver, eventually
from tests.notify.integration.test_webhooks import booked, deliveries, subscribe

pytestmark = pytest.mark.integration

WINDOW = timedelta(hours=24)
OUTCOMES = ("delivered", "retried", "failed", "receiver_gone")


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {
        "webhook_retry_base": timedelta(milliseconds=100),
        "webhook_retry_max_delay": timedelta(milliseconds=200),
        "webhook_delivery_timeout": 5.0,
    }


def attempts_by_outcome() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("notify_webhook_attempts_total", {"outcome": outcome})
        or 0.0
        for outcome in OUTCOMES
    }


def oldest_pending_seconds(webhook_id: str) -> float | None:
    return REGISTRY.get_sample_value(
        "notify_webhook_oldest_pending_seconds", {"subscription_id": webhook_id}
    )


async def webhook(notify: Notify, webhook_id: str) -> dict[str, Any]:
    response = await notify.http.get(f"/webhooks/{webhook_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _queued(notify: Notify, webhook_id: str, count: int) -> bool:
    return len(await deliveries(notify, webhook_id)) >= count


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_deliveries_behind_a_head_failing_for_a_day_get_their_own_retries(
    notify: Notify, receiver: Receiver
) -> None:
    """The receiver cannot parse one event (422, every time); the next one it takes, after one
    503. Before, the 24 h counted from queueing: by the time the head was given up the next
    delivery's window had closed too, and its first 503 failed it for good."""
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    head, behind = booked(site_id), booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    receiver.by_subject[str(head.appointment_id)] = [422] * 100_000
    receiver.by_subject[str(behind.appointment_id)] = [503]
    before = attempts_by_outcome()

    await notify.publish(head, source="booking", subject=head.appointment_id)
    # Queued apart: two deliveries queued by one batch share their `queued_at`, and the list
    # (newest first) would order them by id (the consumer is pinned, docs/reliability.md, and
    # a standby's first poll may take both at once).
    await eventually(lambda: _queued(notify, hook["id"], 1), timeout=10.0, interval=0.05)
    await notify.publish(behind, source="booking", subject=behind.appointment_id)

    async def held() -> dict[str, Any]:
        found = await webhook(notify, hook["id"])
        rows = await deliveries(notify, hook["id"])
        retried = len(rows) == 2 and rows[1]["attempts"] >= 2
        return found if retried and found["pending_deliveries"] == 2 else {}

    # The head is retried; the delivery behind it waits, untried, and the API says why.
    view = await eventually(held, timeout=20.0, interval=0.1)
    assert view["oldest_pending_queued_at"] is not None
    assert view["retrying_since"] is not None
    assert parse(view["retrying_until"]) == parse(view["retrying_since"]) + WINDOW
    assert view["retrying_last_status_code"] == 422
    waiting, retried = await deliveries(notify, hook["id"])  # newest first
    assert (waiting["attempts"], waiting["first_attempt_at"], waiting["retry_until"]) == (
        0,
        None,
        None,
    )
    assert parse(retried["retry_until"]) == parse(retried["first_attempt_at"]) + WINDOW

    # The gauge reads the age of the oldest pending delivery from the database.
    await refresh_once(notify.pool, notify.clock)
    age = oldest_pending_seconds(hook["id"])
    assert age is not None
    assert 0 < age < 60

    # A day later the head is given up; the one behind gets its turn and its own retries.
    notify.clock.jump_to(notify.clock.now() + WINDOW + timedelta(seconds=1))
    await refresh_once(notify.pool, notify.clock)
    stuck = oldest_pending_seconds(hook["id"])
    assert stuck is not None
    assert stuck > WINDOW.total_seconds()

    async def finished() -> list[dict[str, Any]]:
        rows = await deliveries(notify, hook["id"])
        return rows if all(r["status"] != "pending" for r in rows) else []

    later, first = await eventually(finished, timeout=20.0, interval=0.1)
    assert (first["status"], first["last_status_code"]) == ("failed", 422)
    assert later["status"] == "delivered"
    assert [a["status_code"] for a in later["attempt_log"]] == [503, 200]
    assert parse(later["first_attempt_at"]) >= parse(first["failed_at"]) - timedelta(seconds=1)

    view = await webhook(notify, hook["id"])
    assert (view["pending_deliveries"], view["retrying_since"]) == (0, None)
    await refresh_once(notify.pool, notify.clock)
    assert oldest_pending_seconds(hook["id"]) == 0
    after = attempts_by_outcome()
    assert after["failed"] - before["failed"] == 1
    assert after["delivered"] - before["delivered"] == 1
    assert after["retried"] - before["retried"] >= 2


async def test_a_disabled_subscription_leaves_the_oldest_pending_gauge_and_is_counted(
    notify: Notify, receiver: Receiver
) -> None:
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    await refresh_once(notify.pool, notify.clock)
    assert oldest_pending_seconds(hook["id"]) == 0
    disabled_before = REGISTRY.get_sample_value(
        "notify_webhook_subscriptions", {"status": "disabled"}
    )

    gone = booked(site_id)
    receiver.by_subject[str(gone.appointment_id)] = [410]
    await notify.publish(gone, source="booking", subject=gone.appointment_id)

    async def disabled() -> bool:
        return bool((await webhook(notify, hook["id"]))["status"] == "disabled")

    await eventually(disabled, timeout=20.0, interval=0.1)
    await refresh_once(notify.pool, notify.clock)
    assert oldest_pending_seconds(hook["id"]) is None
    disabled_now = REGISTRY.get_sample_value("notify_webhook_subscriptions", {"status": "disabled"})
    assert disabled_now is not None
    assert disabled_now == (disabled_before or 0) + 1


async def test_a_receiver_failing_for_five_days_is_disabled_and_what_waited_goes_out_later(
    notify: Notify, receiver: Receiver
) -> None:
    """Order makes each delivery wait for the one before: a receiver that never recovers
    would hold a queue growing by a day's events and draining by one a day. After five days
    of nothing but failures the subscription is disabled; what waited is kept, untried, and
    goes out in order once it is re-enabled."""
    site_id = uuid4()
    hook = await subscribe(notify, site_id, receiver.url, ["AppointmentBooked"])
    first, second = booked(site_id), booked(site_id, datetime(2031, 3, 4, 9, tzinfo=UTC))
    receiver.by_subject[str(first.appointment_id)] = [503] * 100_000
    receiver.by_subject[str(second.appointment_id)] = [503]
    await notify.publish(first, source="booking", subject=first.appointment_id)
    # Queued apart, as in the first test: one batch would give both the same `queued_at`, and
    # the list (newest first) would then order them by id (a clean-clone CI run saw it).
    await eventually(lambda: _queued(notify, hook["id"], 1), timeout=10.0, interval=0.05)
    await notify.publish(second, source="booking", subject=second.appointment_id)

    async def retried() -> bool:
        rows = await deliveries(notify, hook["id"])
        return len(rows) == 2 and rows[1]["attempts"] >= 2

    await eventually(retried, timeout=20.0, interval=0.1)
    notify.clock.jump_to(notify.clock.now() + timedelta(days=5, seconds=1))

    async def disabled() -> dict[str, Any]:
        found = await webhook(notify, hook["id"])
        return found if found["status"] == "disabled" else {}

    view = await eventually(disabled, timeout=20.0, interval=0.1)
    assert view["disabled_reason"] == "receiver_failing"
    assert view["pending_deliveries"] == 1
    waiting, given_up = await deliveries(notify, hook["id"])
    assert (given_up["status"], given_up["last_status_code"]) == ("failed", 503)
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)
    tried = len(receiver.got)
    await asyncio.sleep(0.5)
    assert len(receiver.got) == tried  # nothing is sent while it is disabled
    await refresh_once(notify.pool, notify.clock)
    assert oldest_pending_seconds(hook["id"]) is None

    # Re-enabled, the streak starts afresh: one more 503 is retried, not a new disabling.
    changed = await notify.http.patch(f"/webhooks/{hook['id']}", json={"status": "active"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["pending_deliveries"] == 1

    async def delivered() -> dict[str, Any]:
        rows = await deliveries(notify, hook["id"])
        return rows[0] if rows[0]["status"] == "delivered" else {}

    row = await eventually(delivered, timeout=20.0, interval=0.1)
    assert [a["status_code"] for a in row["attempt_log"]] == [503, 200]
    view = await webhook(notify, hook["id"])
    assert (view["status"], view["disabled_reason"], view["pending_deliveries"]) == (
        "active",
        None,
        0,
    )
