"""Webhook subscriptions, deliveries and attempts in notify's database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import asyncpg

from notify.domain.webhooks.delivery import (
    DeliveryStatus,
    DisabledReason,
    NextStep,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from counseling_shared.db import Connection

WAKE_CHANNEL = "webhook_deliveries"


@dataclass(frozen=True)
class Subscription:
    id: UUID
    site_id: UUID
    url: str
    event_types: tuple[str, ...]
    status: SubscriptionStatus
    disabled_reason: str | None
    created_at: datetime
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True)
class ClaimedDelivery:
    """The head delivery of a subscription, claimed for one attempt."""

    id: UUID
    subscription_id: UUID
    url: str
    secret: str
    body: str
    attempts: int
    queued_at: datetime
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    first_attempt_at: datetime | None = None
    """None until an attempt is recorded: this attempt then opens its retry window."""
    failing_since: datetime | None = None
    """The subscription's first failed attempt since its last success; None: none failed."""


def subscription_from(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        site_id=row["site_id"],
        url=row["url"],
        event_types=tuple(row["event_types"]),
        status=SubscriptionStatus(row["status"]),
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
    )


async def wake(conn: Connection) -> None:
    """Wake the webhook workers when this transaction commits."""
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def add_subscription(
    conn: Connection,
    *,
    site_id: UUID,
    url: str,
    event_types: Sequence[str],
    secret: str,
    created_by: str,
    now: datetime,
) -> Subscription:
    row = await conn.fetchrow(
        """INSERT INTO webhook_subscriptions
               (id, site_id, url, event_types, secret, status, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) RETURNING *""",
        uuid4(),
        site_id,
        url,
        list(event_types),
        secret,
        created_by,
        now,
    )
    assert row is not None
    return subscription_from(row)


async def get_subscription(
    conn: Connection, subscription_id: UUID, *, for_update: bool = False
) -> Subscription | None:
    """The subscription, unless it is unknown or deleted."""
    row = await conn.fetchrow(
        "SELECT * FROM webhook_subscriptions WHERE id = $1 AND status <> 'deleted'"
        + (" FOR UPDATE" if for_update else ""),
        subscription_id,
    )
    return subscription_from(row) if row else None


async def change_subscription(
    conn: Connection,
    subscription_id: UUID,
    *,
    url: str | None,
    event_types: Sequence[str] | None,
    reactivate: bool,
) -> Subscription:
    """A new `url` or `event_types` (None keeps it); `reactivate` makes a disabled
    subscription active again. Deliveries already queued go to the new URL."""
    row = await conn.fetchrow(
        """UPDATE webhook_subscriptions SET
               url = COALESCE($2, url),
               event_types = COALESCE($3::text[], event_types),
               status = CASE WHEN $4 THEN 'active' ELSE status END,
               disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END,
               disabled_at = CASE WHEN $4 THEN NULL ELSE disabled_at END,
               failing_since = CASE WHEN $4 THEN NULL ELSE failing_since END
           WHERE id = $1 AND status <> 'deleted' RETURNING *""",
        subscription_id,
        url,
        list(event_types) if event_types is not None else None,
        reactivate,
    )
    assert row is not None
    if reactivate:
        await wake(conn)
    return subscription_from(row)


async def delete_subscription(conn: Connection, subscription_id: UUID, now: datetime) -> None:
    """Marks it deleted (its deliveries and attempts stay on record) and gives up what was
    still queued for it: nothing more is sent, so its signing secrets are not kept."""
    await conn.execute(
        """UPDATE webhook_subscriptions SET status = 'deleted', deleted_at = $2,
               claimed_until = NULL, secret = '', previous_secret = NULL
           WHERE id = $1""",
        subscription_id,
        now,
    )
    await _give_up_pending(conn, subscription_id, now, "subscription_deleted")


async def rotate_secret(
    conn: Connection, subscription_id: UUID, secret: str, overlap_until: datetime
) -> Subscription:
    """`secret` signs from now on; the one it replaces also signs until `overlap_until`. A
    second rotation inside the overlap drops the oldest secret: two sign at most."""
    row = await conn.fetchrow(
        """UPDATE webhook_subscriptions SET
               previous_secret = secret, previous_secret_expires_at = $3, secret = $2
           WHERE id = $1 AND status <> 'deleted' RETURNING *""",
        subscription_id,
        secret,
        overlap_until,
    )
    assert row is not None
    return subscription_from(row)


async def _give_up_pending(
    conn: Connection, subscription_id: UUID, now: datetime, reason: str
) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'failed', failed_at = $2, last_error = $3
           WHERE subscription_id = $1 AND status = 'pending'""",
        subscription_id,
        now,
        reason,
    )


async def list_subscriptions(
    conn: Connection,
    *,
    site_id: UUID | None,
    visible_sites: Sequence[UUID] | None,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[Subscription]:
    """Oldest first, a keyset page at a time."""
    rows = await conn.fetch(
        """SELECT * FROM webhook_subscriptions
           WHERE status <> 'deleted' AND ($1::uuid IS NULL OR site_id = $1)
             AND ($2::uuid[] IS NULL OR site_id = ANY($2))
             AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
           ORDER BY created_at, id LIMIT $5""",
        site_id,
        list(visible_sites) if visible_sites is not None else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [subscription_from(r) for r in rows]


async def enqueue(
    conn: Connection,
    *,
    site_id: UUID,
    event_id: UUID,
    event_type: str,
    body: str,
    now: datetime,
) -> int:
    """One pending delivery per active subscription of the site that chose `event_type`;
    how many were queued (an event seen again queues nothing new)."""
    status: str = await conn.execute(
        """INSERT INTO webhook_deliveries
               (id, subscription_id, event_id, event_type, body, status, queued_at,
                next_attempt_at)
           SELECT gen_random_uuid(), s.id, $2, $3, $4, 'pending', $5, $5
           FROM webhook_subscriptions s
           WHERE s.site_id = $1 AND s.status = 'active' AND $3 = ANY(s.event_types)
           ORDER BY s.id
           ON CONFLICT (subscription_id, event_id) DO NOTHING""",
        site_id,
        event_id,
        event_type,
        body,
        now,
    )
    queued = int(status.rsplit(" ", 1)[-1])
    if queued:
        await wake(conn)
    return queued


@dataclass(frozen=True)
class QueuedEvent:
    """An event to queue for its site's subscriptions (`enqueue_many`)."""

    site_id: UUID | None
    event_id: UUID
    event_type: str
    body: str


async def enqueue_many(conn: Connection, events: Sequence[QueuedEvent], now: datetime) -> int:
    """`enqueue` for a consumer's whole batch, in one statement (the webhook workers woken at
    commit when anything was queued): each subscription's deliveries in the events' order."""
    if not events:
        return 0
    queued: int | None = await conn.fetchval(
        """WITH queued AS (
               INSERT INTO webhook_deliveries
                   (id, subscription_id, event_id, event_type, body, status, queued_at,
                    next_attempt_at)
               SELECT gen_random_uuid(), s.id, e.event_id, e.event_type, e.body, 'pending',
                      $5, $5
               FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY
                    AS e(site_id, event_id, event_type, body, n)
               JOIN webhook_subscriptions s
                 ON s.site_id = e.site_id AND s.status = 'active'
                AND e.event_type = ANY(s.event_types)
               ORDER BY e.n, s.id
               ON CONFLICT (subscription_id, event_id) DO NOTHING
               RETURNING 1)
           SELECT counted.n
           FROM (SELECT count(*) AS n FROM queued) AS counted,
                LATERAL (SELECT pg_notify($6, '') WHERE counted.n > 0) AS woken""",
        [e.site_id for e in events],
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.body for e in events],
        now,
        WAKE_CHANNEL,
    )
    return queued or 0  # no row: nothing queued, nobody woken


# A subscription's head: its oldest pending delivery, one probe of `webhook_deliveries_queue`.
# Taken per active subscription (LATERAL) rather than by a DISTINCT ON over every pending
# delivery, which read them all: 87,000 pages and 45 to 125 ms at 100,000 pending.
_HEAD = """SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
           WHERE d.subscription_id = s.id AND d.status = 'pending'
           ORDER BY d.queue_position LIMIT 1"""


async def claim_heads(
    conn: Connection, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedDelivery]:
    """The oldest pending delivery of up to `limit` active subscriptions whose head is due,
    each subscription leased to the caller until `now + lease`."""
    rows = await conn.fetch(
        f"""WITH due AS (
               SELECT h.id AS delivery_id, s.id AS subscription_id
               FROM webhook_subscriptions s CROSS JOIN LATERAL ({_HEAD}) h
               WHERE s.status = 'active' AND h.next_attempt_at <= $1
                 AND (s.claimed_until IS NULL OR s.claimed_until <= $1)
               ORDER BY h.next_attempt_at LIMIT $3
               FOR UPDATE OF s SKIP LOCKED
           ), leased AS (
               -- A previous secret past its overlap signs nothing more: forget it here.
               UPDATE webhook_subscriptions s SET claimed_until = $2,
                   previous_secret = CASE WHEN s.previous_secret_expires_at <= $1 THEN NULL
                                          ELSE s.previous_secret END
               FROM due WHERE s.id = due.subscription_id
               RETURNING s.id, s.url, s.secret, s.previous_secret, s.previous_secret_expires_at,
                   s.failing_since, due.delivery_id
           )
           SELECT d.id, d.subscription_id, l.url, l.secret, l.previous_secret,
               l.previous_secret_expires_at, d.body, d.attempts, d.queued_at, d.first_attempt_at,
               l.failing_since
           FROM leased l JOIN webhook_deliveries d ON d.id = l.delivery_id""",
        now,
        now + lease,
        limit,
    )
    return [
        ClaimedDelivery(
            id=r["id"],
            subscription_id=r["subscription_id"],
            url=r["url"],
            secret=r["secret"],
            body=r["body"],
            attempts=r["attempts"],
            queued_at=r["queued_at"],
            previous_secret=r["previous_secret"],
            previous_secret_expires_at=r["previous_secret_expires_at"],
            first_attempt_at=r["first_attempt_at"],
            failing_since=r["failing_since"],
        )
        for r in rows
    ]


async def next_due_at(conn: Connection) -> datetime | None:
    """When the earliest head of an active subscription falls due: for a head another replica
    holds, when its lease runs out (it is released sooner with a NOTIFY when done)."""
    due: datetime | None = await conn.fetchval(
        f"""SELECT min(greatest(h.next_attempt_at, s.claimed_until))
           FROM webhook_subscriptions s CROSS JOIN LATERAL ({_HEAD}) h
           WHERE s.status = 'active'"""
    )
    return due


async def record_attempt(
    conn: Connection,
    claimed: ClaimedDelivery,
    *,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    step: NextStep,
    now: datetime,
) -> None:
    """The attempt, the delivery's new state and the subscription's release, together."""
    # The subscription's row first, then its delivery's: the order a DELETE or a disabling
    # takes them in (the subscription, then its pending deliveries). Locking the delivery
    # first deadlocked against a DELETE of the subscription made meanwhile.
    await conn.execute(
        "SELECT 1 FROM webhook_subscriptions WHERE id = $1 FOR UPDATE", claimed.subscription_id
    )
    number = claimed.attempts + 1
    await conn.execute(
        """INSERT INTO webhook_attempts (delivery_id, number, at, status_code, error, duration_ms)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        claimed.id,
        number,
        at,
        status_code,
        error,
        duration_ms,
    )
    await conn.execute(
        """UPDATE webhook_deliveries SET
               status = $2, attempts = $3, last_status_code = $4, last_error = $5,
               next_attempt_at = COALESCE($6, next_attempt_at),
               first_attempt_at = COALESCE(first_attempt_at, $8),
               delivered_at = CASE WHEN $2 = 'delivered' THEN $7 ELSE delivered_at END,
               failed_at = CASE WHEN $2 = 'failed' THEN $7 ELSE failed_at END
           WHERE id = $1""",
        claimed.id,
        step.status.value,
        number,
        status_code,
        error,
        step.next_attempt_at,
        now,
        at,
    )
    # The receiver's failing streak: a failed attempt starts it, a success ends it.
    failing_since = None if step.status is DeliveryStatus.DELIVERED else at
    deleted = await conn.fetchval(
        """UPDATE webhook_subscriptions SET claimed_until = NULL,
               failing_since = CASE WHEN $2::timestamptz IS NULL THEN NULL
                                    ELSE COALESCE(failing_since, $2) END
           WHERE id = $1
           RETURNING status = 'deleted'""",
        claimed.subscription_id,
        failing_since,
    )
    if deleted:
        # Deleted while this attempt was out: its retry, too, is never made.
        await _give_up_pending(conn, claimed.subscription_id, now, "subscription_deleted")
    elif step.disable is not None:
        await conn.execute(
            """UPDATE webhook_subscriptions SET status = 'disabled', disabled_reason = $3,
                   disabled_at = $2
               WHERE id = $1""",
            claimed.subscription_id,
            now,
            step.disable.value,
        )
        if step.disable is DisabledReason.RECEIVER_GONE:
            # What was still queued for a receiver that is gone will never be sent.
            await _give_up_pending(conn, claimed.subscription_id, now, "subscription_disabled")
    await wake(conn)


async def release(conn: Connection, subscription_id: UUID) -> None:
    await conn.execute(
        "UPDATE webhook_subscriptions SET claimed_until = NULL WHERE id = $1", subscription_id
    )


async def deliveries(
    conn: Connection, subscription_id: UUID, limit: int, before: tuple[datetime, UUID] | None
) -> list[asyncpg.Record]:
    """Newest first, a keyset page at a time."""
    if before is None:
        rows: list[asyncpg.Record] = await conn.fetch(
            """SELECT * FROM webhook_deliveries WHERE subscription_id = $1
               ORDER BY queued_at DESC, id DESC LIMIT $2""",
            subscription_id,
            limit,
        )
        return rows
    rows = await conn.fetch(
        """SELECT * FROM webhook_deliveries WHERE subscription_id = $1
             AND (queued_at, id) < ($3, $4)
           ORDER BY queued_at DESC, id DESC LIMIT $2""",
        subscription_id,
        limit,
        *before,
    )
    return rows


async def attempts_of(conn: Connection, delivery_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])
           ORDER BY delivery_id, number""",
        list(delivery_ids),
    )
    return rows


async def secret_of(conn: Connection, subscription_id: UUID) -> str | None:
    """The secret signing now (for a replayed creation or rotation only)."""
    secret: str | None = await conn.fetchval(
        "SELECT secret FROM webhook_subscriptions WHERE id = $1 AND status <> 'deleted'",
        subscription_id,
    )
    return secret


async def delivery_status(conn: Connection, subscription_id: UUID, delivery_id: UUID) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2",
        delivery_id,
        subscription_id,
    )
    return status


async def delivery_for_update(
    conn: Connection, subscription_id: UUID, delivery_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT * FROM webhook_deliveries WHERE id = $1 AND subscription_id = $2
           FOR UPDATE""",
        delivery_id,
        subscription_id,
    )
    return row


async def requeue(conn: Connection, delivery_id: UUID, now: datetime) -> None:
    """A replay: the same delivery (same `webhook-id`) at the back of its queue, with a fresh
    retry window (from its next attempt); its earlier attempts stay on record."""
    await conn.execute(
        """UPDATE webhook_deliveries SET
               status = $2, queue_position = nextval('webhook_queue_position'),
               queued_at = $3, next_attempt_at = $3, delivered_at = NULL, failed_at = NULL,
               first_attempt_at = NULL,
               replays = replays + 1
           WHERE id = $1""",
        delivery_id,
        DeliveryStatus.PENDING.value,
        now,
    )
    await wake(conn)


@dataclass(frozen=True)
class Backlog:
    """What waits for a subscription: its pending deliveries and how long its head has held
    them (a head being retried holds back every delivery queued after it)."""

    pending: int = 0
    oldest_queued_at: datetime | None = None
    head_first_attempt_at: datetime | None = None
    """When the head was first tried, if that attempt (and every one since) failed."""
    head_attempts: int = 0
    head_last_status_code: int | None = None
    head_last_error: str | None = None


async def backlogs(conn: Connection, subscription_ids: Sequence[UUID]) -> dict[UUID, Backlog]:
    """The backlog of each subscription given that has a pending delivery."""
    rows = await conn.fetch(
        """SELECT p.subscription_id, p.pending, p.oldest_queued_at, h.first_attempt_at,
               h.attempts, h.last_status_code, h.last_error
           FROM (SELECT subscription_id, count(*) AS pending, min(queued_at) AS oldest_queued_at
                 FROM webhook_deliveries
                 WHERE status = 'pending' AND subscription_id = ANY($1::uuid[])
                 GROUP BY subscription_id) p
           CROSS JOIN LATERAL (
               SELECT first_attempt_at, attempts, last_status_code, last_error
               FROM webhook_deliveries
               WHERE subscription_id = p.subscription_id AND status = 'pending'
               ORDER BY queue_position LIMIT 1) h""",
        list(subscription_ids),
    )
    return {
        r["subscription_id"]: Backlog(
            pending=r["pending"],
            oldest_queued_at=r["oldest_queued_at"],
            head_first_attempt_at=r["first_attempt_at"] if r["attempts"] else None,
            head_attempts=r["attempts"],
            head_last_status_code=r["last_status_code"],
            head_last_error=r["last_error"],
        )
        for r in rows
    }


@dataclass(frozen=True)
class Health:
    """The webhook gauges' reading: subscriptions by status, and the oldest pending delivery's
    queueing time of each active subscription (None: nothing pending)."""

    by_status: dict[str, int]
    oldest_pending: dict[UUID, datetime | None]


async def health(conn: Connection) -> Health:
    rows = await conn.fetch(
        """SELECT s.id, s.status,
               (SELECT min(d.queued_at) FROM webhook_deliveries d
                WHERE d.subscription_id = s.id AND d.status = 'pending') AS oldest
           FROM webhook_subscriptions s WHERE s.status <> 'deleted'"""
    )
    by_status: dict[str, int] = {}
    oldest: dict[UUID, datetime | None] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        if r["status"] == SubscriptionStatus.ACTIVE:
            oldest[r["id"]] = r["oldest"]
    return Health(by_status=by_status, oldest_pending=oldest)
