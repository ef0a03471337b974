"""Several deliveries' outcomes in one statement (a bulk worker's claim of several messages).

Each outcome is written as `notification_store.record_outcome` writes one: its row locked at
the version the worker claimed, its events appended, the row updated, the attempt logged and
its `NotificationSent` / `NotificationFailed` put in the outbox. A message whose lease was lost
(another worker recorded it) or whose client was erased finds no row and writes nothing; the
others are written all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import asyncpg

from counseling_shared import eventstore, outbox
from notify.adapters.event_codec import to_new_event
from notify.adapters.notification_store import attempt_columns, stream_id
from notify.domain.notification import DeliveryAttempted, Notification, NotificationEvent, fold

if TYPE_CHECKING:
    from counseling_shared.db import Connection


class Outcome(NamedTuple):
    """One claimed message (as claimed), the events its delivery ends in, and their public
    announcement's outbox rows."""

    claimed: Notification
    events: Sequence[NotificationEvent]
    announcement: Sequence[outbox.OutboxRow]


# The rows are locked in id order (two workers never wait on each other in a cycle); every
# other part keeps only the messages whose row was there at the claimed version. The events
# are appended without ON CONFLICT: a clash aborts the statement whole (the caller then
# records the outcomes one by one).
_RECORD_OUTCOMES = """WITH locked AS (
        SELECT n.id FROM notifications n
        JOIN unnest($1::uuid[], $2::int[]) AS a(id, version)
          ON n.id = a.id AND n.version = a.version
        ORDER BY n.id
        FOR UPDATE OF n),
    appended AS (
        INSERT INTO events (id, stream_id, version, type, data, metadata)
        SELECT e.id, e.stream_id, e.version, e.type, e.data, e.metadata
        FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::jsonb[], $8::jsonb[],
                    $9::uuid[]) AS e(id, stream_id, version, type, data, metadata, owner)
        WHERE e.owner IN (SELECT id FROM locked)
        RETURNING 1),
    updated AS (
        UPDATE notifications n SET channel = r.channel, status = r.status,
            attempts = r.attempts, next_attempt_at = r.next_attempt_at,
            hold_reason = r.hold_reason, last_error = r.last_error, sent_at = r.sent_at,
            failed_at = r.failed_at, version = r.version, deferrals = r.deferrals,
            deferred_since = r.deferred_since, failed_channel = r.failed_channel,
            claimed_until = NULL
        FROM unnest($10::uuid[], $11::text[], $12::text[], $13::int[], $14::timestamptz[],
                    $15::text[], $16::text[], $17::timestamptz[], $18::timestamptz[],
                    $19::int[], $20::int[], $21::timestamptz[], $22::text[])
             AS r(id, channel, status, attempts, next_attempt_at, hold_reason, last_error,
                  sent_at, failed_at, version, deferrals, deferred_since, failed_channel)
        WHERE n.id = r.id AND n.id IN (SELECT id FROM locked)
        RETURNING n.id),
    logged AS (
        INSERT INTO notification_attempts
            (notification_id, number, at, channel, outcome, error_code)
        SELECT a.owner, a.number, a.at, a.channel, a.outcome, a.error_code
        FROM unnest($23::uuid[], $24::integer[], $25::timestamptz[], $26::text[], $27::text[],
                    $28::text[]) AS a(owner, number, at, channel, outcome, error_code)
        WHERE a.owner IN (SELECT id FROM updated)),
    announced AS (
        INSERT INTO outbox (event_id, stream, subject, payload, headers, aggregate)
        SELECT o.event_id, o.stream, o.subject, o.payload, o.headers, o.aggregate
        FROM unnest($29::uuid[], $30::text[], $31::text[], $32::bytea[], $33::jsonb[],
                    $34::text[], $35::uuid[])
             AS o(event_id, stream, subject, payload, headers, aggregate, owner)
        WHERE o.owner IN (SELECT id FROM updated)
        RETURNING 1)
    SELECT array(SELECT id FROM updated) AS recorded
    FROM (SELECT count(*) FROM (SELECT pg_notify($36, '') FROM announced LIMIT 1) AS n) AS woken"""


async def record_outcomes(
    conn: Connection, outcomes: Sequence[Outcome]
) -> list[Notification | None]:
    """Record every outcome (each with events) in one statement (atomic on its own: call it
    outside a transaction); for each, in order, the recorded state, or None when it wrote
    nothing (lease lost or erased). Raises `ConcurrencyConflict` when a writer that did not
    lock the row first appended at one of the claimed versions (nothing is written then)."""
    if not outcomes:
        return []
    news = [fold(o.claimed, o.events) for o in outcomes]
    try:
        recorded: list[UUID] = await conn.fetchval(
            _RECORD_OUTCOMES,
            [o.claimed.id for o in outcomes],
            [o.claimed.version for o in outcomes],
            *_event_columns(outcomes),
            *_row_columns(news),
            *_attempt_rows(outcomes),
            *_outbox_columns(outcomes),
            outbox.OUTBOX_CHANNEL,
        )
    except asyncpg.UniqueViolationError:
        raise eventstore.ConcurrencyConflict(stream_id(outcomes[0].claimed.id), 0) from None
    written = set(recorded)
    return [new if new.id in written else None for new in news]


def _event_columns(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(7)]
    for o in outcomes:
        values = eventstore.append_values(
            stream_id(o.claimed.id), o.claimed.version, [to_new_event(e) for e in o.events]
        )[:6]
        for column, more in zip(columns, values, strict=False):
            column += more
        columns[6] += [o.claimed.id] * len(o.events)
    return columns


def _row_columns(news: Sequence[Notification]) -> list[list[Any]]:
    return [
        [n.id for n in news],
        [n.channel.value for n in news],
        [n.status.value for n in news],
        [n.attempts for n in news],
        [n.next_attempt_at for n in news],
        [n.hold_reason.value if n.hold_reason else None for n in news],
        [n.last_error for n in news],
        [n.sent_at for n in news],
        [n.failed_at for n in news],
        [n.version for n in news],
        [n.deferrals for n in news],
        [n.deferred_since for n in news],
        [n.failed_channel.value if n.failed_channel else None for n in news],
    ]


def _attempt_rows(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    owners: list[UUID] = []
    attempts: list[DeliveryAttempted] = []
    for o in outcomes:
        mine = [e for e in o.events if isinstance(e, DeliveryAttempted)]
        owners += [o.claimed.id] * len(mine)
        attempts += mine
    return [owners, *attempt_columns(attempts)]


def _outbox_columns(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    rows = [(*row, o.claimed.id) for o in outcomes for row in o.announcement]
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * 7
