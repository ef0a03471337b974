"""Escalation deadlines as rows (`escalation_timers`), kept in step with each alert.

A row is the alert's one pending timer (`Alert.deadline`): a level's ack deadline (`kind`
`escalation`) while it is open, or its acknowledgement's expiry (`ack_expiry`) while it is
acknowledged under a policy with `ack_expires_after`; `round` counts the alert's re-openings.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from counseling_shared.scheduler import notify_timer_added
from counseling_shared.tracing import current_trace_headers
from crisis.domain.alert import Alert

if TYPE_CHECKING:
    from counseling_shared.db import Connection

TABLE = "escalation_timers"
CHANNEL = "escalation_timers"
DUE = "status = 'scheduled'"


# The alert's other scheduled timers cancelled ($3: it keeps a timer, at cycle $4, level $5,
# round $6 of kind $7). One a scheduler has claimed right now is skipped (SKIP LOCKED).
_CANCEL_OTHERS = f"""UPDATE {TABLE} SET status = 'cancelled', settled_at = $2
    WHERE id IN (SELECT id FROM {TABLE}
                 WHERE alert_id = $1 AND status = 'scheduled'
                   AND NOT ($3 AND cycle = $4 AND level = $5 AND round = $6 AND kind = $7)
                 FOR UPDATE SKIP LOCKED)"""
# The alert's current timer, unless it is there already.
_ADD = f"""INSERT INTO {TABLE} (id, alert_id, cycle, level, due_at, created_at, trace_headers,
        round, kind)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (alert_id, round, kind, cycle, level) DO NOTHING"""


def _cancel_others_args(alert: Alert, now: datetime) -> tuple[object, ...]:
    deadline = alert.deadline
    if deadline is None:
        return (alert.id, now, False, 0, 0, 0, "escalation")
    step = deadline.step
    return (alert.id, now, True, step.cycle, step.level, deadline.round, deadline.kind)


def _add_args(alert: Alert, now: datetime) -> tuple[object, ...] | None:
    deadline = alert.deadline
    if deadline is None:
        return None
    # The flow's trace: the page this deadline fires continues it.
    trace = current_trace_headers() or None
    step = deadline.step
    return (
        uuid4(),
        alert.id,
        step.cycle,
        step.level,
        deadline.due_at,
        now,
        trace,
        deadline.round,
        deadline.kind,
    )


async def follow(conn: Connection, alert: Alert, now: datetime) -> None:
    """Leave exactly the alert's current deadline scheduled, in the caller's transaction.

    Other scheduled timers of the alert are cancelled. One a scheduler has claimed right now is
    skipped (SKIP LOCKED, so an acknowledgement never waits on or deadlocks with a firing timer):
    that timer's own transaction then finds the alert moved on and settles it as cancelled.
    """
    await conn.execute(_CANCEL_OTHERS, *_cancel_others_args(alert, now))
    added = _add_args(alert, now)
    if added is None:
        return
    if await conn.fetchval(_ADD + " RETURNING true", *added):
        await notify_timer_added(conn, CHANNEL, alert.deadline.due_at if alert.deadline else None)


# `follow` for every alert at once, from the `alerts` rows a projection rebuild just wrote
# (their cycle, current_level, reopens and escalation_due_at or ack_expires_at are each
# alert's timer, as `Alert.deadline` gives it; at most one of the two instants is set). The
# rebuild's own rows: nobody else can hold a lock on them, so no SKIP LOCKED.
_CURRENT_KIND = """CASE WHEN a.escalation_due_at IS NOT NULL THEN 'escalation'
    WHEN a.ack_expires_at IS NOT NULL THEN 'ack_expiry' END"""
_CANCEL_STALE = f"""UPDATE {TABLE} t SET status = 'cancelled', settled_at = $1
    FROM alerts a
    WHERE a.id = t.alert_id AND t.status = 'scheduled'
      AND NOT (coalesce(t.kind = {_CURRENT_KIND}, false)
               AND t.cycle = a.cycle AND t.level = a.current_level AND t.round = a.reopens)"""
_ADD_CURRENT = f"""INSERT INTO {TABLE} (id, alert_id, cycle, level, due_at, created_at,
        trace_headers, round, kind)
    SELECT gen_random_uuid(), a.id, a.cycle, a.current_level,
           coalesce(a.escalation_due_at, a.ack_expires_at), $1, $2, a.reopens, {_CURRENT_KIND}
    FROM alerts a WHERE a.escalation_due_at IS NOT NULL OR a.ack_expires_at IS NOT NULL
    ON CONFLICT (alert_id, round, kind, cycle, level) DO NOTHING"""


async def follow_rebuilt(conn: Connection, now: datetime) -> None:
    """`follow` for every row of `alerts`, in two statements, without waking the schedulers (a
    projection rebuild, after its alerts are written, with the timers it kept back in the
    table; it wakes them once, for the earliest deadline: one set to wake sooner stays asleep).
    Writes only: a batch of writes can hold them."""
    await conn.execute(_CANCEL_STALE, now)
    await conn.execute(_ADD_CURRENT, now, current_trace_headers() or None)


async def alerts_without_deadline(conn: Connection) -> list[UUID]:
    """Open, unacknowledged, not exhausted alerts with a policy, and acknowledged ones whose
    acknowledgement expires, that have no scheduled timer."""
    rows = await conn.fetch(
        f"""SELECT a.id FROM alerts a
            WHERE ((a.status = 'open' AND NOT a.exhausted AND a.policy_levels IS NOT NULL)
                   OR (a.status = 'acknowledged' AND a.ack_expires_at IS NOT NULL))
              AND NOT EXISTS (SELECT 1 FROM {TABLE} t
                              WHERE t.alert_id = a.id AND t.status = 'scheduled')"""
    )
    return [r["id"] for r in rows]


async def restore(conn: Connection, alert: Alert, now: datetime) -> bool:
    """Re-create the alert's current timer when nothing is scheduled for it (the auditor's
    repair; the caller holds the alert's lock). True when a timer was restored."""
    deadline = alert.deadline
    if deadline is None:
        return False
    due, step = deadline.due_at, deadline.step
    scheduled = await conn.fetchval(
        f"SELECT true FROM {TABLE} WHERE alert_id = $1 AND status = 'scheduled' LIMIT 1",
        alert.id,
    )
    if scheduled:
        return False
    await conn.execute(
        f"""INSERT INTO {TABLE} (id, alert_id, cycle, level, due_at, created_at, trace_headers,
                round, kind)
            VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)
            ON CONFLICT (alert_id, round, kind, cycle, level) DO UPDATE
               SET status = 'scheduled', due_at = EXCLUDED.due_at, settled_at = NULL""",
        uuid4(),
        alert.id,
        step.cycle,
        step.level,
        due,
        now,
        deadline.round,
        deadline.kind,
    )
    await notify_timer_added(conn, CHANNEL, due)
    return True


async def settle(conn: Connection, timer_id: UUID, status: str, now: datetime) -> None:
    """Move a claimed timer out of the due set: `fired` or `cancelled` (it was stale)."""
    await conn.execute(
        f"UPDATE {TABLE} SET status = $2, settled_at = $3 WHERE id = $1", timer_id, status, now
    )


async def overdue_count(conn: Connection, now: datetime, grace_seconds: float) -> int:
    """Scheduled deadlines already `grace_seconds` past due: the scheduler is falling behind."""
    count: int = await conn.fetchval(
        f"""SELECT count(*) FROM {TABLE}
            WHERE status = 'scheduled'
              AND due_at < $1::timestamptz - make_interval(secs => $2)""",
        now,
        grace_seconds,
    )
    return count
