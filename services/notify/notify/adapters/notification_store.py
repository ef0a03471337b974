"""Notifications in PostgreSQL: events in the event store, the `notifications` and
`notification_attempts` projections, and the claims of the delivery workers."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import asyncpg

from counseling_shared import audit, eventstore, outbox
from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.db import JsonText
from notify.adapters.event_codec import to_new_event
from notify.adapters.recipient_facts import (
    FACTS_COLUMNS,
    RecipientFacts,
    facts_from_row,
    facts_joins,
)
from notify.domain.codes import (
    HoldReason,
    Lane,
    NotificationStatus,
    ReceiptStatus,
    RecipientKind,
    Template,
)
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
    """Store a newly requested notification (its event and its row) and wake its lane's
    workers at commit: `add_many` of one."""
    [state] = await add_many(conn, [requested], [trace_headers])
    return state


# Every new stream's first event, every row, and the lanes' wake-ups (delivered at commit).
_ADD_MANY = """WITH appended AS (
        INSERT INTO events (id, stream_id, version, type, data, metadata)
        SELECT e.id, e.stream_id, 1, e.type, e.data, e.metadata
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[])
             AS e(id, stream_id, type, data, metadata)
        ON CONFLICT (stream_id, version) DO NOTHING
        RETURNING 1),
    saved AS (
        INSERT INTO notifications (id, recipient_id, recipient_kind, site_id, lane, channel,
            requested_channel, template, params, status, attempts, next_attempt_at,
            hold_reason, cause_event_id, correlation_id, page_id, created_at, version,
            trace_headers, alert_id)
        SELECT r.id, r.recipient_id, r.recipient_kind, r.site_id, r.lane, r.channel,
            r.requested_channel, r.template, r.params, r.status, 0, r.next_attempt_at,
            r.hold_reason, r.cause_event_id, r.correlation_id, r.page_id, r.created_at,
            r.version, r.trace_headers, r.alert_id
        FROM unnest($6::uuid[], $7::uuid[], $8::text[], $9::uuid[], $10::text[], $11::text[],
                    $12::text[], $13::text[], $14::jsonb[], $15::text[], $16::timestamptz[],
                    $17::text[], $18::uuid[], $19::uuid[], $20::uuid[], $21::timestamptz[],
                    $22::int[], $23::jsonb[], $24::uuid[])
             AS r(id, recipient_id, recipient_kind, site_id, lane, channel, requested_channel,
                  template, params, status, next_attempt_at, hold_reason, cause_event_id,
                  correlation_id, page_id, created_at, version, trace_headers, alert_id))
    SELECT (SELECT count(*) FROM appended) AS appended
    FROM (SELECT count(*) FROM (SELECT pg_notify(lane, '') FROM unnest($25::text[]) AS lane)
          AS notified) AS woken"""


async def add_many(
    conn: Connection,
    requested: Sequence[NotificationRequested],
    trace_headers: Sequence[Mapping[str, str]],
) -> list[Notification]:
    """Store newly requested notifications (their events and rows) and wake their lanes'
    workers at commit: one statement, one round trip, however many (an inbox batch's)."""
    if not requested:
        return []
    states = [evolve(None, r) for r in requested]
    events = [to_new_event(r) for r in requested]
    actor = audit.actor_metadata()  # who caused it, when written while serving a request
    lanes = sorted({wake_channel(s.lane) for s in states})
    appended = await conn.fetchval(
        _ADD_MANY,
        [e.id for e in events],
        [stream_id(s.id) for s in states],
        [e.type for e in events],
        [e.data for e in events],
        [{**e.metadata, "actor": actor} if actor else e.metadata for e in events],
        *_new_row_columns(states, trace_headers),
        lanes,
    )
    if appended != len(states):
        # A notification id already used: never with fresh ids, but never silently either.
        raise eventstore.ConcurrencyConflict(stream_id(states[0].id), 0)
    return states


def _new_row_columns(
    states: Sequence[Notification], trace_headers: Sequence[Mapping[str, str]]
) -> list[list[object]]:
    """`_ADD_MANY`'s row columns: one array per column, in its order."""
    return [
        [s.id for s in states],
        [s.recipient_id for s in states],
        [s.recipient_kind.value for s in states],
        [s.site_id for s in states],
        [s.lane.value for s in states],
        [s.channel.value for s in states],
        [s.requested_channel.value if s.requested_channel else None for s in states],
        [s.template.value for s in states],
        [dict(s.params) for s in states],
        [s.status.value for s in states],
        [s.next_attempt_at for s in states],
        [s.hold_reason.value if s.hold_reason else None for s in states],
        [s.cause_event_id for s in states],
        [s.correlation_id for s in states],
        [s.page_id for s in states],
        [s.created_at for s in states],
        [s.version for s in states],
        [dict(h) for h in trace_headers],
        [alert_of(s) for s in states],
    ]


# A rebuilt notification's columns, in the order `save_replayed` copies its row.
REPLAYED_COLUMNS = (
    "id",
    "recipient_id",
    "recipient_kind",
    "site_id",
    "lane",
    "channel",
    "requested_channel",
    "template",
    "params",
    "status",
    "attempts",
    "next_attempt_at",
    "hold_reason",
    "last_error",
    "sent_at",
    "failed_at",
    "cause_event_id",
    "correlation_id",
    "page_id",
    "created_at",
    "version",
    "trace_headers",
    "alert_id",
    "claimed_until",
    "deferrals",
    "deferred_since",
    "failed_channel",
    "receipt_status",
    "receipt_error_code",
    "receipt_at",
    "receipt_provider",
    "resends",
)
_ATTEMPT_COLUMNS = ("notification_id", "number", "at", "channel", "outcome", "error_code")


async def save_replayed(
    conn: Connection,
    state: Notification,
    attempts: Sequence[DeliveryAttempted],
    *,
    claimed_until: datetime | None = None,
    trace_headers_json: str = "{}",
) -> None:
    """A rebuild's row of a notification as its events left it, and its attempts: the row
    `add_many` then `save_change` would leave, written once instead of inserted then updated,
    with the two columns no event holds (the claim of a worker delivering it now, the trace of
    the event that asked for it) as the rebuild kept them (default: no claim, no trace). The
    trace headers are the kept column's JSON text, written back as they were read (never
    decoded and encoded again).

    By binary COPY (`copy_records_to_table`, which a rebuild's `RecordedWrites` turns into one
    COPY per batch): a plain insert, so only into tables the rebuild emptied of this
    notification's rows, on a connection with `db.binary_jsonb` (`params`, `trace_headers`).
    An `executemany` of the insert started an executor per row, whose cost grew with the
    table's columns (the eight added on 2026-12-05 cost about 11 µs a row; docs/performance.md)."""
    await conn.copy_records_to_table(
        "notifications",
        records=[
            (
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
                state.attempts,
                state.next_attempt_at,
                state.hold_reason.value if state.hold_reason else None,
                state.last_error,
                state.sent_at,
                state.failed_at,
                state.cause_event_id,
                state.correlation_id,
                state.page_id,
                state.created_at,
                state.version,
                JsonText(trace_headers_json),
                alert_of(state),
                claimed_until,
                state.deferrals,
                state.deferred_since,
                state.failed_channel.value if state.failed_channel else None,
                state.receipt_status.value if state.receipt_status else None,
                state.receipt_error_code,
                state.receipt_at,
                state.receipt_provider,
                state.resends,
            )
        ],
        columns=REPLAYED_COLUMNS,
    )
    if attempts:
        await conn.copy_records_to_table(
            "notification_attempts",
            records=[
                (state.id, a.number, a.at, a.channel.value, a.outcome.value, a.error_code)
                for a in attempts
            ],
            columns=_ATTEMPT_COLUMNS,
        )


async def load_for_update(
    conn: Connection, notification_id: UUID
) -> tuple[Notification, datetime | None] | None:
    """A notification and the end of a worker's claim on it (None: unclaimed), its row locked
    for this transaction (a delivery receipt's)."""
    row = await conn.fetchrow(
        "SELECT * FROM notifications WHERE id = $1 FOR UPDATE", notification_id
    )
    return (from_row(row), row["claimed_until"]) if row is not None else None


async def record_receipt(
    conn: Connection,
    state: Notification,
    events: Sequence[NotificationEvent],
    announcement: Sequence[outbox.OutboxRow],
) -> Notification:
    """`record_outcome` and the receipt's own columns (in the caller's transaction)."""
    new = await record_outcome(conn, state, events, announcement)
    await conn.execute(
        """UPDATE notifications SET receipt_status = $2, receipt_error_code = $3,
               receipt_at = $4, receipt_provider = $5, resends = $6
           WHERE id = $1""",
        new.id,
        new.receipt_status.value if new.receipt_status else None,
        new.receipt_error_code,
        new.receipt_at,
        new.receipt_provider,
        new.resends,
    )
    return new


def alert_of(state: Notification) -> UUID | None:
    """The crisis alert a page belongs to (kept in its own column to withdraw its retries)."""
    if state.page_id is None or "alert_id" not in state.params:
        return None
    return UUID(str(state.params["alert_id"]))


async def record(
    conn: Connection, state: Notification, events: Sequence[NotificationEvent]
) -> Notification:
    """Append `events` after `state.version`, update the projections and end any claim.

    Raises `ConcurrencyConflict` when another worker recorded first (its lease had expired),
    or when the client was erased meanwhile (the row is gone).
    """
    if not events:
        return state
    await eventstore.append(
        conn, stream_id(state.id), state.version, [to_new_event(e) for e in events]
    )
    new = fold(state, events)
    if not await save_change(conn, new, events):
        # The client was erased while we waited for the row: our events must not outlive it.
        raise eventstore.ConcurrencyConflict(stream_id(state.id), state.version)
    return new


# The status says whether the row was there: "SELECT 1", or "SELECT 0" once erased.
_SAVE_CHANGE = """WITH updated AS (
        UPDATE notifications SET channel = $2, status = $3, attempts = $4,
            next_attempt_at = $5, hold_reason = $6, last_error = $7, sent_at = $8,
            failed_at = $9, version = $10, deferrals = $11, deferred_since = $12,
            failed_channel = $13, claimed_until = NULL
        WHERE id = $1
        RETURNING id),
    logged AS (
        INSERT INTO notification_attempts
            (notification_id, number, at, channel, outcome, error_code)
        SELECT updated.id, a.number, a.at, a.channel, a.outcome, a.error_code
        FROM updated, unnest($14::integer[], $15::timestamptz[], $16::text[], $17::text[],
                             $18::text[]) AS a(number, at, channel, outcome, error_code))
    SELECT 1 FROM updated"""


async def save_change(
    conn: Connection, new: Notification, events: Sequence[NotificationEvent]
) -> bool:
    """Bring the row to `new` (the state after `events`), log its attempts, end any claim: one
    statement (one round trip) for every delivery recorded. False: the row is gone (erased)."""
    status = await conn.execute(
        _SAVE_CHANGE,
        new.id,
        *_change_values(new, events),
    )
    return status == "SELECT 1"


def _change_values(new: Notification, events: Sequence[NotificationEvent]) -> list[object]:
    """The row's new columns and the attempts' columns, in the order `_SAVE_CHANGE` and
    `_RECORD_OUTCOME` take them."""
    attempts = [e for e in events if isinstance(e, DeliveryAttempted)]
    return [
        new.channel.value,
        new.status.value,
        new.attempts,
        new.next_attempt_at,
        new.hold_reason.value if new.hold_reason else None,
        new.last_error,
        new.sent_at,
        new.failed_at,
        new.version,
        new.deferrals,
        new.deferred_since,
        new.failed_channel.value if new.failed_channel else None,
        *attempt_columns(attempts),
    ]


def attempt_columns(attempts: Sequence[DeliveryAttempted]) -> list[list[Any]]:
    """The attempts as the arrays every `unnest(number, at, channel, outcome, error_code)` of
    `notification_attempts` here takes."""
    return [
        [a.number for a in attempts],
        [a.at for a in attempts],
        [a.channel.value for a in attempts],
        [a.outcome.value for a in attempts],
        [a.error_code for a in attempts],
    ]


# A delivery's outcome in one statement, so in no explicit transaction (BEGIN and COMMIT were
# two of its five round trips). The row is locked first, at the version the worker claimed: a
# worker whose lease ran out and was overtaken, or a client erased meanwhile, finds no row and
# writes nothing. The events are appended without ON CONFLICT: a clash aborts the statement
# whole instead of leaving some of them behind.
_RECORD_OUTCOME = """WITH locked AS (
        SELECT id FROM notifications WHERE id = $1 AND version = $2 FOR UPDATE),
    appended AS (
        INSERT INTO events (id, stream_id, version, type, data, metadata)
        SELECT e.* FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::jsonb[],
                               $8::jsonb[]) AS e
        WHERE EXISTS (SELECT 1 FROM locked)
        RETURNING 1),
    updated AS (
        UPDATE notifications n SET channel = $9, status = $10, attempts = $11,
            next_attempt_at = $12, hold_reason = $13, last_error = $14, sent_at = $15,
            failed_at = $16, version = $17, deferrals = $18, deferred_since = $19,
            failed_channel = $20, claimed_until = NULL
        FROM locked WHERE n.id = locked.id
        RETURNING n.id),
    logged AS (
        INSERT INTO notification_attempts
            (notification_id, number, at, channel, outcome, error_code)
        SELECT updated.id, a.number, a.at, a.channel, a.outcome, a.error_code
        FROM updated, unnest($21::integer[], $22::timestamptz[], $23::text[], $24::text[],
                             $25::text[]) AS a(number, at, channel, outcome, error_code)),
    announced AS (
        INSERT INTO outbox (event_id, stream, subject, payload, headers, aggregate)
        SELECT o.* FROM unnest($26::uuid[], $27::text[], $28::text[], $29::bytea[],
                               $30::jsonb[], $31::text[]) AS o
        WHERE EXISTS (SELECT 1 FROM updated)
        RETURNING 1)
    SELECT (SELECT count(*) FROM updated) AS recorded
    FROM (SELECT count(*) FROM (SELECT pg_notify($32, '') FROM announced LIMIT 1) AS n) AS woken"""


async def record_outcome(
    conn: Connection,
    state: Notification,
    events: Sequence[NotificationEvent],
    announcement: Sequence[outbox.OutboxRow],
) -> Notification:
    """`record` and the outbox rows of its public announcement, in one statement (atomic on
    its own: call it outside a transaction, or inside one that does more).

    Raises `ConcurrencyConflict` when another worker recorded first (its lease had expired),
    or when the client was erased meanwhile (the row is gone).
    """
    if not events:
        return state
    new = fold(state, events)
    appended = eventstore.append_values(
        stream_id(state.id), state.version, [to_new_event(e) for e in events]
    )[:6]
    try:
        recorded = await conn.fetchval(
            _RECORD_OUTCOME,
            state.id,
            state.version,
            *appended,
            *_change_values(new, events),
            *(outbox.row_columns(list(announcement)) if announcement else [[]] * 6),
            outbox.OUTBOX_CHANNEL,
        )
    except asyncpg.UniqueViolationError:
        # A writer that did not lock the row first appended at our version meanwhile.
        raise eventstore.ConcurrencyConflict(stream_id(state.id), state.version) from None
    if recorded != 1:
        raise eventstore.ConcurrencyConflict(stream_id(state.id), state.version)
    return new


class Claimed(NamedTuple):
    """A claimed message, its trace context, and what notify knows of its recipient and site
    (read in the claim's own statement)."""

    notification: Notification
    trace_headers: dict[str, str]
    facts: RecipientFacts


async def claim(
    conn: Connection,
    lane: Lane,
    now: datetime,
    lease_until: datetime,
    channels: Collection[NotificationChannel] | None = None,
) -> Claimed | None:
    """Take the lane's most overdue message for one worker: `claim_many` of one."""
    claimed = await claim_many(conn, lane, now, lease_until, channels, 1)
    return claimed[0] if claimed else None


async def claim_many(
    conn: Connection,
    lane: Lane,
    now: datetime,
    lease_until: datetime,
    channels: Collection[NotificationChannel] | None = None,
    most: int = 1,
) -> list[Claimed]:
    """Take the lane's `most` most overdue messages for one worker until `lease_until` (only
    messages planned for `channels`, when given), most overdue first, each with its
    recipient's facts: one round trip however many.

    The row locks last only this statement's transaction; each message's lease keeps other
    workers off while the provider is called, and lets them take over if this worker dies.
    """
    rows = await conn.fetch(
        f"""WITH next AS (
               SELECT id FROM notifications
               WHERE lane = $1 AND status = 'pending' AND next_attempt_at <= $2
                 AND (claimed_until IS NULL OR claimed_until <= $2)
                 AND ($4::text[] IS NULL OR channel = ANY($4::text[]))
               ORDER BY next_attempt_at
               LIMIT $5
               FOR UPDATE SKIP LOCKED),
           claimed AS (
               UPDATE notifications n SET claimed_until = $3
               FROM next WHERE n.id = next.id
               RETURNING n.*)
           SELECT claimed.*, {FACTS_COLUMNS}
           FROM claimed {facts_joins("claimed")}
           ORDER BY claimed.next_attempt_at, claimed.id""",
        lane.value,
        now,
        lease_until,
        _channel_values(channels),
        most,
    )
    return [
        Claimed(from_row(row), dict(row["trace_headers"] or {}), facts_from_row(row))
        for row in rows
    ]


async def release(conn: Connection, notification_id: UUID) -> None:
    """Give a claimed message back to its lane at once (a worker stopping mid-delivery)."""
    await release_many(conn, [notification_id])


async def release_many(conn: Connection, notification_ids: Sequence[UUID]) -> None:
    """Give claimed messages back to their lane at once (a worker stopping, or the rest of a
    bulk claim when a page arrives), and wake the lane's workers for them."""
    await conn.execute(
        """WITH released AS (
               UPDATE notifications SET claimed_until = NULL
               WHERE id = ANY($1::uuid[]) AND status = 'pending'
               RETURNING lane)
           SELECT pg_notify('notifications_' || lane, '')
           FROM (SELECT DISTINCT lane FROM released) AS lanes""",
        list(notification_ids),
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


async def pending_pages_of_alert(
    conn: Connection, alert_id: UUID, requested_by: datetime | None = None
) -> list[Notification]:
    """An alert's pages still pending, locked for this transaction (claimed ones too: a worker
    that is sending one right now then finds it withdrawn and drops its outcome). With
    `requested_by`, only pages crisis requested by then (a page without `requested_at`, from
    before notify kept it, counts as one)."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE alert_id = $1 AND status = 'pending'
             AND ($2::timestamptz IS NULL OR NOT params ? 'requested_at'
                  OR (params ->> 'requested_at')::timestamptz <= $2)
           ORDER BY created_at, id
           FOR UPDATE""",
        alert_id,
        requested_by,
    )
    return [from_row(r) for r in rows]


async def idle_held_notifications(
    conn: Connection, recipient_id: UUID, now: datetime
) -> list[Notification]:
    """A recipient's messages waiting out quiet hours, locked for this transaction."""
    rows = await conn.fetch(
        """SELECT * FROM notifications
           WHERE recipient_id = $1 AND status = 'pending' AND hold_reason = 'quiet_hours'
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
        deferrals=row["deferrals"],
        deferred_since=row["deferred_since"],
        failed_channel=NotificationChannel(row["failed_channel"])
        if row["failed_channel"]
        else None,
        receipt_status=ReceiptStatus(row["receipt_status"]) if row["receipt_status"] else None,
        receipt_error_code=row["receipt_error_code"],
        receipt_at=row["receipt_at"],
        receipt_provider=row["receipt_provider"],
        resends=row["resends"],
    )
