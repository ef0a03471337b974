"""Webhook records go with the attempt records' retention: attempts, then finished deliveries
with no attempt left, then deleted subscriptions with no delivery left. Pending deliveries,
live subscriptions and anything younger stay. So do Twilio sends of unknown outcome: an old
record (its notification gave up long ago) goes, a young one stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

import notify.bootstrap
from counseling_shared.db import connect, create_pool
from counseling_shared.migrations import apply_migrations
from counseling_shared.pruner import Pruner

pytestmark = pytest.mark.integration

KEEP = timedelta(days=90)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> Any:
    definition = notify.bootstrap.definition()
    conn = await connect(database_url, schema="notify")
    try:
        await apply_migrations(conn, definition.migrations_dir, schema="notify")
    finally:
        await conn.close()
    pool = await create_pool(database_url, schema="notify", max_size=2)
    yield pool
    await pool.close()


async def subscription(pool: asyncpg.Pool[Any], deleted_days_ago: int | None) -> UUID:
    sid = uuid4()
    await pool.execute(
        """INSERT INTO webhook_subscriptions (id, site_id, url, event_types, secret, status,
               created_by, created_at, deleted_at)
           VALUES ($1, $2, 'https://receiver.example/hook', '{AppointmentBooked}', 'whsec_x',
               $3, 'test', now() - interval '200 days',
               now() - make_interval(days => $4::int))""",
        sid,
        uuid4(),
        "active" if deleted_days_ago is None else "deleted",
        deleted_days_ago,
    )
    return sid


async def delivery(
    pool: asyncpg.Pool[Any], sid: UUID, status: str, days_ago: int, attempted: bool = True
) -> UUID:
    did = uuid4()
    await pool.execute(
        """INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, body,
               status, queued_at, next_attempt_at, delivered_at, failed_at)
           VALUES ($1, $2, $3, 'AppointmentBooked', '{}', $4,
               now() - make_interval(days => $5::int), now() - make_interval(days => $5::int),
               CASE WHEN $4 = 'delivered' THEN now() - make_interval(days => $5::int) END,
               CASE WHEN $4 = 'failed' THEN now() - make_interval(days => $5::int) END)""",
        did,
        sid,
        uuid4(),
        status,
        days_ago,
    )
    if attempted:
        await pool.execute(
            """INSERT INTO webhook_attempts (delivery_id, number, at, status_code, duration_ms)
               VALUES ($1, 1, now() - make_interval(days => $2::int), 200, 5)""",
            did,
            days_ago,
        )
    return did


async def test_old_webhook_records_are_pruned_in_reference_order_and_the_rest_kept(
    pool: asyncpg.Pool[Any],
) -> None:
    gone_sub = await subscription(pool, deleted_days_ago=120)
    await delivery(pool, gone_sub, "failed", 120)
    await delivery(pool, gone_sub, "failed", 100, attempted=False)
    recent_sub = await subscription(pool, deleted_days_ago=120)  # a delivery 10 days old
    recent_delivery = await delivery(pool, recent_sub, "delivered", 10)
    live_sub = await subscription(pool, deleted_days_ago=None)
    await delivery(pool, live_sub, "delivered", 120)
    old_pending = await delivery(pool, live_sub, "pending", 120, attempted=False)
    young_deleted = await subscription(pool, deleted_days_ago=10)
    for key, days_ago in (("old", 120), ("young", 10)):
        await pool.execute(
            """INSERT INTO twilio_unknown_outcomes (idempotency_key, notification_id, channel,
                   since, phone_digest, look_for, digest_key)
               VALUES ($1, $2, 'sms', now() - make_interval(days => $3::int), 'p', 'b', 'k')""",
            key,
            uuid4(),
            days_ago,
        )
    targets = notify.bootstrap.definition().prune_targets

    deleted = await Pruner(pool, targets).prune_once()

    assert deleted == {
        "notification_attempts": 0,
        "webhook_attempts": 2,
        "webhook_deliveries": 3,
        "webhook_subscriptions": 1,
        "twilio_unknown_outcomes": 1,
        "sms_reminders": 0,  # none in this module
        "twilio_posts": 0,
    }
    kept = [r["idempotency_key"] for r in await pool.fetch("SELECT * FROM twilio_unknown_outcomes")]
    assert kept == ["young"]
    subscriptions = {r["id"] for r in await pool.fetch("SELECT id FROM webhook_subscriptions")}
    assert subscriptions == {recent_sub, live_sub, young_deleted}
    deliveries = {r["id"] for r in await pool.fetch("SELECT id FROM webhook_deliveries")}
    assert deliveries == {recent_delivery, old_pending}
    attempts = {r["delivery_id"] for r in await pool.fetch("SELECT * FROM webhook_attempts")}
    assert attempts == {recent_delivery}
