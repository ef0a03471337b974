"""Rebuild crisis's projections from its event store (an operator command; docs/backbone.md).

Rebuilt, from crisis's own streams, with the writers the write path uses:
`escalation_policies` (`escalation-policy-<site>`), `schedules` and `schedule_overrides`
(`schedule-<id>`), `shift_swap_requests` (`shift-swap-<id>`: each event carries the whole
request, its type the status; an open row is also its expiry timer, due at its start: the swap
scheduler is woken once, at the commit, for the earliest), `risk_flags` (`risk-flag-<id>`; the
alert a flag joined is the alert whose stream received it), `alerts`, `alert_pages` and
`alert_timeline` (`alert-<id>`), and `site_closures` (`site-closures-<site>`: booking's
SiteClosuresChanged as crisis recorded it, its `SiteClosuresRecorded`; the last one is the
list). Rows are stamped with the service clock's time of the write that recorded the events
(their `written_at` metadata; for events stored before crisis recorded it, the alert's last
step and the store's `recorded_at`).

Left untouched: `staff`, `sites` and `clients`, what crisis keeps from booking's
StaffRegistered, SiteRegistered and ClientRegistered (no event of crisis's own records them);
`staff_pins`, set through crisis's PIN route and kept only as a hash, never as an event;
`staff_sms_opt_outs` (staff who texted STOP, as notify tells crisis: no event of crisis's own);
`twilio_posts` (the Twilio ids of posts acted on: replay protection, plain rows); and the
backbone's tables. Also kept, deliberately: `round_robin_turns` (where each site's round-robin
levels stand). The turns are in the alerts' streams too (`RoundRobinTurn` steps), but erasing a
client deletes their alerts' streams: refolding the turns from the streams left would rewind a
level to an older turn and page again whoever had an erased alert's turn. The kept row is the
only full count.

`escalation_timers` holds the deadlines: state the events do not fully hold (a timer's id, and
whether a deadline that found its alert had moved on was settled when it fired or when the alert
moved), so it is not refolded but kept, and reconciled with the rebuilt alerts as the write
path's `timers.follow` would reconcile each: each alert's current deadline is scheduled (a
missing one is added, an existing row keeps its id), and any other scheduled deadline of the
alert is cancelled. A pending deadline is never lost; timers of alerts with no stream are
dropped. A kept timer keeps its `trace_headers` (the flow's trace, in no event); a missing
deadline the rebuild adds carries the rebuild's own trace, if any. `timers.follow_rebuilt` does
it in two statements over the rebuilt `alerts` rows; the schedulers are woken once, at the
commit, for the earliest deadline.

Writers wait meanwhile (a SHARE lock on `events`). Old rows are deleted rather than truncated so
readers (the API, the gauges) keep seeing them until the rebuild commits.

The writers write into `RecordedWrites`: every `flush_every` aggregates each statement runs
once as an `executemany` (each COPY target once: an alert's rows, its steps and pages, and a
flag's row are copied into the emptied tables), while the next aggregates are folded. That
regrouping gives the same rows as one statement after the other: each stream is saved once,
reading nothing, and writes only its own rows (a schedule's no-op delete of its overrides is
seen before their inserts), and no kind's rows reference another kind's, so a batch may end one
kind and start the next.
The deletes of the old rows are the first batch's first statements, and the timers'
reconciliation (after every alert's statements) goes with the flags' first batch: both run
while aggregates are folded. Alerts are folded before flags: each flag's row is inserted with
the alert whose stream received it (`flags.write_replayed`) instead of inserted then linked,
and each page once with its final delivery instants (`alerts.project_replayed`) instead of
inserted then updated per delivery.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.batched_writes import Batches
from counseling_shared.clock import Clock, SystemClock
from counseling_shared.db import REBUILD_COMMIT, binary_jsonb
from counseling_shared.eventstore import RecordedEvent, read_streams
from counseling_shared.gc_paused import gc_paused
from counseling_shared.scheduler import notify_timer_added
from crisis.adapters import alerts, flags, policies, schedules, site_closures, swaps, timers
from crisis.adapters.codec import from_stored, policy_from_json, written_at
from crisis.adapters.policies import SitePolicy
from crisis.domain.alert import fold
from crisis.domain.schedules.aggregate import fold as schedule_fold
from crisis.domain.schedules.swaps import SwapStatus
from crisis.domain.timeline import FlagReceived

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Stream kind (the stream id without its uuid) → the kind reported, in the order read: the
# alerts before the flags, so that each flag's row is written with its alert.
_KINDS = {
    "site-closures": "site_closures",
    "schedule": "schedule",
    "shift-swap": "shift_swap",
    "escalation-policy": "escalation_policy",
    "alert": "alert",
    "risk-flag": "risk_flag",
}
# Children before the rows they reference.
_TABLES = (
    "alert_timeline",
    "alert_pages",
    "escalation_timers",
    "alerts",
    "risk_flags",
    "shift_swap_requests",
    "schedule_overrides",
    "schedules",
    "site_closures",
)
_UUID_LENGTH = 36


async def rebuild_projections(
    conn: Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    clock: Clock | None = None,
    flush_every: int = 100,
) -> dict[str, int]:
    """Replace every projection row of crisis's own streams by their fold; rows per kind.

    `progress(done, total)` is called after each batch of streams is written (`counselctl
    rebuild` draws a bar); at most `flush_every` folded aggregates wait in memory. `clock`
    dates the repairs of escalation timers (a deadline added or cancelled).
    """
    counts = dict.fromkeys(_KINDS.values(), 0)
    alert_of_flag: dict[UUID, UUID] = {}  # each flag the alert whose stream received it
    earliest_due: datetime | None = None  # of the rebuilt alerts' escalation deadlines
    first_swap_due: datetime | None = None  # of the rebuilt open swap requests' expiries
    # No cyclic collection while it runs (`gc_paused`: one costs up to 40 ms here).
    async with gc_paused(), conn.transaction():
        # One round trip (a simple query). The commit does not wait for its WAL to reach the
        # disk (20 to 40 ms): see `counseling_shared.db.REBUILD_COMMIT`.
        await conn.execute(
            f"""{REBUILD_COMMIT}; LOCK TABLE events IN SHARE MODE;
                CREATE TEMPORARY TABLE kept_escalation_timers ON COMMIT DROP AS
                SELECT * FROM escalation_timers"""
        )
        # Each kind's streams and events: the progress bar's total and each kind's fetch.
        streams: Counter[str] = Counter()
        events: Counter[str] = Counter()
        for row in await conn.fetch("SELECT stream_id, count(*) FROM events GROUP BY stream_id"):
            found = _kind_of(row[0])
            if found is not None:
                streams[found] += 1
                events[found] += row[1]
        total = sum(streams.values())
        async with (
            binary_jsonb(conn),  # the alerts' policies and the timeline's details, copied
            Batches(conn, every=flush_every, total=total, progress=progress) as batches,
        ):
            into = batches.into
            # The old rows are deleted by the first batch, while the first aggregates are
            # folded (every statement of a batch runs after the ones it saw before).
            for table in (*_TABLES, "escalation_policies"):
                await into.execute(f"DELETE FROM {table}")
            # In the kinds' order, each kind's events read by one query. No kind's rows
            # reference another's: a batch may hold the end of one and the start of the next.
            for kind in _KINDS:
                async for records in read_streams(
                    conn,
                    f"{kind}-",
                    gate=batches,
                    prefetch=_prefetch(flush_every, streams[kind], events[kind]),
                ):
                    if _kind_of(records[0].stream_id) != kind:
                        continue  # another kind whose name starts with this one's
                    if kind == "site-closures":
                        await site_closures.project_replayed(into, records)
                    elif kind == "schedule":
                        await _rebuild_schedule(into, records)
                    elif kind == "shift-swap":
                        swap_due = await _rebuild_swap(into, records)
                        if swap_due is not None and (
                            first_swap_due is None or swap_due < first_swap_due
                        ):
                            first_swap_due = swap_due
                    elif kind == "escalation-policy":
                        site_id = UUID(records[0].stream_id[-_UUID_LENGTH:])
                        await _rebuild_policy(into, site_id, records)
                    elif kind == "alert":
                        due = await _rebuild_alert(into, records, alert_of_flag)
                        if due is not None and (earliest_due is None or due < earliest_due):
                            earliest_due = due
                    else:
                        await _rebuild_flag(into, records, alert_of_flag)
                    counts[_KINDS[kind]] += 1
                    await batches.saved()
                if kind == "alert":  # after every alert's rows, with the flags' first batch
                    await _reconcile_timers(into, clock)
        if earliest_due is not None:  # once, for the earliest deadline
            await notify_timer_added(conn, timers.CHANNEL, earliest_due)
        if first_swap_due is not None:
            await notify_timer_added(conn, swaps.CHANNEL, first_swap_due)
    return counts


async def _reconcile_timers(conn: Connection, clock: Clock | None) -> None:
    """The kept timers of alerts that have a stream back, then reconciled with the alerts."""
    await conn.execute(
        """INSERT INTO escalation_timers
           SELECT k.* FROM kept_escalation_timers k JOIN alerts a ON a.id = k.alert_id"""
    )
    await timers.follow_rebuilt(conn, (clock or SystemClock()).now())


def _prefetch(every: int, streams: int, events: int) -> int:
    """Events per fetch: a little over a batch's worth of the kind's streams (a dozen events
    for an alert, one for a flag). A full batch starts after a fetch: each is then written
    while the next fetch is folded, rather than two batches' worth at a time, or the whole
    kind at its end."""
    return max(1, math.ceil(1.1 * every * events / streams)) if streams else every


def _kind_of(stream_id: str) -> str | None:
    """The kind of one of crisis's own streams, else None (a string slice: parsing each
    stream's uuid twice was 4 % of the rebuild's samples; only a policy needs its id)."""
    kind = stream_id[: -_UUID_LENGTH - 1]
    return kind if kind in _KINDS and stream_id[-_UUID_LENGTH - 1] == "-" else None


async def _rebuild_policy(conn: Connection, site_id: UUID, records: list[RecordedEvent]) -> None:
    last = records[-1]
    policy = policy_from_json(
        last.data["levels"],
        last.data["repeat"],
        last.data.get("fallback_staff_ids", ()),
        last.data.get("ack_expires_after"),
    )
    at = written_at(last) or last.recorded_at
    await policies.save(conn, SitePolicy(site_id, policy, last.version, at))


async def _rebuild_schedule(conn: Connection, records: list[RecordedEvent]) -> None:
    state = schedule_fold(schedules.from_stored(r) for r in records)
    assert state is not None, f"{records[0].stream_id} has no events"
    first, last = records[0], records[-1]
    await schedules.project(
        conn,
        state,
        last.version,
        written_at(last) or last.recorded_at,
        created_at=written_at(first) or first.recorded_at,
    )


async def _rebuild_swap(conn: Connection, records: list[RecordedEvent]) -> datetime | None:
    """Save one swap request's row; when it expires if it is still open (else None)."""
    first, last = records[0], records[-1]
    request = swaps.from_stored(last)
    await swaps.project(
        conn,
        request,
        last.version,
        written_at(first) or first.recorded_at,
        written_at(last) or last.recorded_at,
    )
    return request.expires_at if request.status is SwapStatus.OPEN else None


async def _rebuild_flag(
    conn: Connection, records: list[RecordedEvent], alert_of_flag: dict[UUID, UUID]
) -> None:
    [recorded] = records
    flag = flags.flag_from_stored(recorded.data)
    received_at = written_at(recorded) or recorded.recorded_at
    await flags.write_replayed(conn, flag, received_at, alert_of_flag.get(flag.flag_id))


async def _rebuild_alert(
    conn: Connection, records: list[RecordedEvent], alert_of_flag: dict[UUID, UUID]
) -> datetime | None:
    """Save one alert's rows; when its timer falls due (an escalation deadline or an
    acknowledgement's expiry; None: none is running)."""
    events = [from_stored(r) for r in records]
    alert = fold(None, events)
    assert alert is not None, f"{records[0].stream_id} never opened"
    stored = [r.data for r in records]
    now = written_at(records[-1]) or events[-1].at
    await alerts.project_replayed(conn, alert, events, stored, now)
    for event in events:
        if isinstance(event, FlagReceived):
            alert_of_flag[event.flag_id] = alert.id
    return alert.deadline.due_at if alert.deadline else None
