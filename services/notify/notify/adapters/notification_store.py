"""Notifications in PostgreSQL: events in the event store, the `notifications` and
`notification_attempts` projections, and the claims of the delivery workers."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from counseling_shared import eventstore
from counseling_shared.codes import Channel, NotificationChannel
from notify.adapters.event_codec import to_new_event
from notify.domain.codes import HoldReason, Lane, NotificationStatus, RecipientKind, Template
from notify.domain.notification import (
    DeliveryAttempted,
    Notification,
    NotificationEvent,
    NotificationRequested,
    evolve,
    fold,
)

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def stream_id(notification_id: UUID) -> str:
    return f"notification-{notification_id}"


def wake_channel(lane: Lane) -> str:
    """The LISTEN channel that wakes a lane's workers when a message is ready."""
    return f"notifications_{lane.value}"


async def wake(conn: Connection, lane: Lane) -> None:
    """Wake the lane's workers when this transaction commits."""
    await conn.execute("SELECT pg_notify($1, '')", wake_channel(lane))


async def add(
    conn: Connection, requested: NotificationRequested, trace_headers: Mapping[str, str]
) -> Notification:
    """Store a newly requested notification (its event and its row)."""
    await eventstore.append(
        conn, stream_id(requested.notification_id), 0, [to_new_event(requested)]
    )
    state = evolve(None, requested)
    await save_new(conn, state, trace_headers)
    return state


async def save_new(conn: Connection, state: Notification, trace_headers: Mapping[str, str]) -> None:
    """The row of a notification just requested (`state` after `NotificationRequested`)."""
    await conn.execute(
        """INSERT INTO notifications (id, recipient_id, recipient_kind, site_id, lane, channel,
               requested_channel, template, params, status, attempts, next_attempt_at,
               hold_reason, cause_event_id, correlation_id, page_id, created_at, version,
               trace_headers, alert_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $16,
                   $17, $18, $19)""",
        state.id,
        state.recipient_id,
        state.recipient_kind.value,
        state.site_id,
        state.lane.value,
        state.channel.value,
        state.requested_channel.value if state.requested_channel else None,
        state.template.value,
        dict(state.params),
        state.status.value,
        state.next_attempt_at,
        state.hold_reason.value if state.hold_reason else None,
        state.cause_event_id,
        state.correlation_id,
        state.page_id,
        state.created_at,
        state.version,
        dict(trace_headers),
        alert_of(state),
    )


def alert_of(state: Notification) -> UUID | None:
    """The crisis alert a page belongs to (kept in its own column to withdraw its retries)."""
    if state.page_id is None or "alert_id" not in state.params:
        return None
    return UUID(str(state.params["alert_id"]))


async def record(
    conn: Connection, state: Notification, events: Sequence[NotificationEvent]
) -> Notification:
    """Append `events` after `state.version`, update the projections and end any claim.

    Raises `ConcurrencyConflict` when another worker recorded first (its lease had expired).
    """
    if not events:
        return state
    await eventstore.append(
        conn, stream_id(state.id), state.version, [to_new_event(e) for e in events]
    )
    new = fold(state, events)
    await save_change(conn, new, events)
    return new


async def save_change(
    conn: Connection, new: Notification, events: Sequence[NotificationEvent]
) -> None:
    """Bring the row to `new` (the state after `events`), log its attempts, end any claim."""
    await conn.execute(
        """UPDATE notifications SET channel = $2, status = $3, attempts = $4,
               next_attempt_at = $5, hold_reason = $6, last_error = $7, sent_at = $8,
               failed_at = $9, version = $10, claimed_until = NULL
           WHERE id = $1""",
        new.id,
        new.channel.value,
        new.status.value,
        new.attempts,
        new.next_attempt_at,
        new.hold_reason.value if new.hold_reason else None,
        new.last_error,
        new.sent_at,
        new.failed_at,
        new.version,
    )
    attempts = [e for e in events if isinstance(e, DeliveryAttempted)]
    if attempts:
        await conn.executemany(
            """INSERT INTO notification_attempts
                   (notification_id, number, at, channel, outcome, error_code)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            [
                (new.id, a.number, a.at, a.channel.value, a.outcome.value, a.error_code)
                for a in attempts
            ],
        )


async def claim(
    conn: Connection,
    lane: Lane,
    now: datetime,
    lease_until: datetime,
    channels: Collection[NotificationChannel] | None = None,
) -> tuple[Notification, dict[str, str]] | None:
    """Take the lane's most overdue message for one worker until `lease_until` (only messages
    planned for `channels`, when given).

    The row lock lasts only this statement's transaction; the lease keeps other workers off
    while the provider is called, and lets them take over if this worker dies.
    """
    row = await conn.fetchrow(
        """WITH next AS (
               SELECT id FROM notifications
               WHERE lane = $1 AND status = 'pending' AND next_attempt_at <= $2
                 AND (claimed_until IS NULL OR claimed_until <= $2)
                 AND ($4::text[] IS NULL OR channel = ANY($4::text[]))
               ORDER BY next_attempt_at
               LIMIT 1
               FOR UPDATE SKIP LOCKED)
           UPDATE notifications n SET claimed_until = $3
           FROM next WHERE n.id = next.id
           RETURNING n.*""",
        lane.value,
        now,
        lease_until,
        _channel_values(channels),
    )
    if row is None:
        return None
    return from_row(row), dict(row["trace_headers"] or {})


async def release(conn: Connection, notification_id: UUID) -> None:
    """Give a claimed message back to its lane at once (a worker stopping mid-delivery)."""
    await conn.execute(
        "UPDATE notifications SET claimed_until = NULL WHERE id = $1 AND status = 'pending'",
        notification_id,
    )


async def next_due_at(
    conn: Connection, lane: Lane, channels: Collection[NotificationChannel] | None = None
) -> datetime | None:
    """When the lane's next pending message falls due (claimed ones: when their lease ends)."""
    due: datetime | None = await conn.fetchval(
        """SELECT min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at)))
           FROM notifications WHERE lane = $1 AND status = 'pending'
             AND ($2::text[] IS NULL OR channel = ANY($2::text[]))""",
        lane.value,
        _channel_values(channels),
    )
    return due


def _channel_values(channels: Collection[NotificationChannel] | None) -> list[str] | None:
    return sorted(c.value for c in channels) if channels is not None else None


async def idle_page_notifications(
    conn: Connection, page_id: UUID, now: datetime
) -> list[Notification]:
    """A page's pending messages that no worker holds, locked for this transaction."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE page_id = $1 AND status = 'pending'
             AND (claimed_until IS NULL OR claimed_until <= $2)
           ORDER BY created_at, id
           FOR UPDATE SKIP LOCKED""",
        page_id,
        now,
    )
    return [from_row(r) for r in rows]


async def pending_pages_of_alert(conn: Connection, alert_id: UUID) -> list[Notification]:
    """An alert's pages still pending, locked for this transaction (claimed ones too: a worker
    that is sending one right now then finds it withdrawn and drops its outcome)."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE alert_id = $1 AND status = 'pending'
           ORDER BY created_at, id
           FOR UPDATE""",
        alert_id,
    )
    return [from_row(r) for r in rows]


async def idle_held_notifications(
    conn: Connection, recipient_id: UUID, now: datetime
) -> list[Notification]:
    """A recipient's messages waiting out quiet hours, locked for this transaction."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE recipient_id = $1 AND status = 'pending' AND hold_reason IS NOT NULL
             AND (claimed_until IS NULL OR claimed_until <= $2)
           ORDER BY created_at, id
           FOR UPDATE SKIP LOCKED""",
        recipient_id,
        now,
    )
    return [from_row(r) for r in rows]


def from_row(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"],
        recipient_id=row["recipient_id"],
        recipient_kind=RecipientKind(row["recipient_kind"]),
        site_id=row["site_id"],
        lane=Lane(row["lane"]),
        channel=NotificationChannel(row["channel"]),
        requested_channel=Channel(row["requested_channel"]) if row["requested_channel"] else None,
        template=Template(row["template"]),
        params=dict(row["params"] or {}),
        cause_event_id=row["cause_event_id"],
        correlation_id=row["correlation_id"],
        page_id=row["page_id"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        hold_reason=HoldReason(row["hold_reason"]) if row["hold_reason"] else None,
        status=NotificationStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
        failed_at=row["failed_at"],
        version=row["version"],
    )
