"""Alerts in PostgreSQL: the event stream of each alert, and its projection rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic_core import to_json

from counseling_shared.db import JsonText
from counseling_shared.eventstore import read_stream
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import timers
from crisis.adapters.codec import from_stored, policy_levels_json, to_stored
from crisis.adapters.policies import ack_expires_after_text
from crisis.domain.alert import Alert, Page, fold
from crisis.domain.timeline import (
    AlertEvent,
    PageFailed,
    PageRequested,
    PageSent,
    kind_of,
    timeline_details,
)

if TYPE_CHECKING:
    from counseling_shared.db import Connection


def stream_id(alert_id: UUID) -> str:
    return f"alert-{alert_id}"


@dataclass(frozen=True)
class LoadedAlert:
    alert: Alert
    version: int


async def active_alert_of(conn: Connection, client_id: UUID, site_id: UUID) -> UUID | None:
    """The client's open or acknowledged alert at `site_id`, if any."""
    found: UUID | None = await conn.fetchval(
        """SELECT id FROM alerts
           WHERE client_id = $1 AND site_id = $2 AND status IN ('open', 'acknowledged')""",
        client_id,
        site_id,
    )
    return found


async def lock_client(conn: Connection, client_id: UUID) -> None:
    """Serialise flags for one client, so two at once cannot both open an alert."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", str(client_id))


async def lock(conn: Connection, alert_id: UUID) -> bool:
    """Lock the alert's row for this transaction; False when there is no such alert."""
    found = await conn.fetchval("SELECT true FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
    return bool(found)


async def load(conn: Connection, alert_id: UUID) -> LoadedAlert | None:
    """Fold the alert's own events (call `lock` first when about to change it)."""
    records = await read_stream(conn, stream_id(alert_id))
    alert = fold(None, (from_stored(r) for r in records))
    return LoadedAlert(alert, len(records)) if alert else None


async def alert_of_page(conn: Connection, page_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT alert_id FROM alert_pages WHERE page_id = $1", page_id
    )
    return found


async def save(
    uow: UnitOfWork,
    alert_id: UUID,
    loaded: LoadedAlert | None,
    events: list[AlertEvent],
) -> Alert:
    """Append the events after the loaded version and bring every projection row along."""
    version = loaded.version if loaded else 0
    now = uow.now()
    await uow.append(stream_id(alert_id), version, [to_stored(e, written_at=now) for e in events])
    after = fold(loaded.alert if loaded else None, events)
    assert after is not None, "events must open the alert before anything else"
    await project(uow.conn, after, version, events, now)
    await timers.follow(uow.conn, after, now)
    return after


async def project(
    conn: Connection, alert: Alert, version: int, events: list[AlertEvent], now: datetime
) -> None:
    """Bring the alert's row, pages and timeline along after `events`, appended after
    `version` (its deadline is kept by `timers.follow`). `now` stamps `updated_at`."""
    await _project_alert(conn, alert, version + len(events), now)
    await _project_timeline(conn, alert.id, version, events)
    await _project_pages(conn, alert.id, events)


async def project_replayed(
    conn: Connection,
    alert: Alert,
    events: list[AlertEvent],
    stored: Sequence[Mapping[str, Any]],
    now: datetime,
) -> None:
    """`project` of a whole stream into emptied tables (a projection rebuild), given each
    event's stored JSON too: each page is inserted once with its final delivery instants
    instead of inserted then updated per `PageSent`/`PageFailed` (the same row: the alert's
    pages fold those events the way the updates do, keeping the first delivery and the first
    failure), and the timeline's details are taken from the stored JSON (`stored_details`)."""
    # By binary COPY (plain inserts into the emptied tables; `db.binary_jsonb` on the
    # connection): an `executemany` or `unnest` insert starts an executor per call.
    await conn.copy_records_to_table(
        "alerts", records=[_alert_values(alert, len(events), now)], columns=_ALERT_COLUMNS
    )
    await conn.copy_records_to_table(
        "alert_timeline",
        records=[
            (alert.id, seq, e.at, kind_of(e), JsonText(stored_details_json(e, data)))
            for seq, (e, data) in enumerate(zip(events, stored, strict=True), start=1)
        ],
        columns=("alert_id", "seq", "at", "kind", "details"),
    )
    if alert.pages:
        await conn.copy_records_to_table(
            "alert_pages",
            records=[_page_row(alert.id, p) for p in alert.pages],
            columns=_PAGE_COLUMNS,
        )


def stored_details(event: AlertEvent, data: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline's details of `event` as the write path writes them, each value the event's
    stored JSON holds taken from it (an id or a coded value is stored as the same text), the
    others computed (an `Opened`'s number of levels, a `ChainRepeated`'s level): `str` of an
    id costs more than the rest of a step's row."""
    return {k: data[k] if k in data else _json_value(v) for k, v in timeline_details(event).items()}


def stored_details_json(event: AlertEvent, data: Mapping[str, Any]) -> str:
    """`stored_details` as JSON text for the `::jsonb` cast: pydantic-core's encoder, 0.35 µs a
    step against json.dumps's 2.3 (no spaces, UTF-8 rather than escapes: the same jsonb)."""
    return to_json(stored_details(event, data)).decode()


_PAGE_COLUMNS = (
    "page_id",
    "alert_id",
    "staff_id",
    "level",
    "cycle",
    "flag_id",
    "requested_at",
    "sent_at",
    "failed_at",
)


def _page_row(alert_id: UUID, page: Page) -> tuple[object, ...]:
    return (
        page.page_id,
        alert_id,
        page.staff_id,
        page.level,
        page.cycle,
        page.flag_id,
        page.requested_at,
        page.sent_at,
        page.failed_at,
    )


# The alert's row in this order: its upsert's columns and a rebuild's copy's.
_ALERT_COLUMNS = (
    "id",
    "client_id",
    "site_id",
    "level",
    "status",
    "current_level",
    "cycle",
    "exhausted",
    "policy_levels",
    "policy_repeat",
    "escalation_due_at",
    "opened_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "outcome",
    "version",
    "updated_at",
    "policy_fallback_staff_ids",
    "reopens",
    "ack_expires_at",
    "policy_ack_expires_after",
    "reopened_at",
)


async def _project_alert(conn: Connection, alert: Alert, version: int, now: datetime) -> None:
    await conn.execute(
        """INSERT INTO alerts (id, client_id, site_id, level, status, current_level, cycle,
               exhausted, policy_levels, policy_repeat, escalation_due_at, opened_at,
               acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome,
               version, updated_at, policy_fallback_staff_ids, reopens, ack_expires_at,
               policy_ack_expires_after, reopened_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19, $20, $21, $22, $23, $24)
           ON CONFLICT (id) DO UPDATE SET
               level = EXCLUDED.level, status = EXCLUDED.status,
               current_level = EXCLUDED.current_level, cycle = EXCLUDED.cycle,
               exhausted = EXCLUDED.exhausted, policy_levels = EXCLUDED.policy_levels,
               policy_repeat = EXCLUDED.policy_repeat,
               policy_fallback_staff_ids = EXCLUDED.policy_fallback_staff_ids,
               escalation_due_at = EXCLUDED.escalation_due_at,
               acknowledged_at = EXCLUDED.acknowledged_at,
               acknowledged_by = EXCLUDED.acknowledged_by, resolved_at = EXCLUDED.resolved_at,
               resolved_by = EXCLUDED.resolved_by, outcome = EXCLUDED.outcome,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
               reopens = EXCLUDED.reopens, ack_expires_at = EXCLUDED.ack_expires_at,
               policy_ack_expires_after = EXCLUDED.policy_ack_expires_after,
               reopened_at = EXCLUDED.reopened_at""",
        *_alert_values(alert, version, now),
    )


def _alert_values(alert: Alert, version: int, now: datetime) -> tuple[object, ...]:
    return (
        alert.id,
        alert.client_id,
        alert.site_id,
        alert.risk_level.value,
        alert.status.value,
        alert.current_level,
        alert.step.cycle if alert.step else 0,
        alert.exhausted,
        policy_levels_json(alert.policy) if alert.policy else None,
        alert.policy.repeat if alert.policy else None,
        alert.escalation_due_at,
        alert.opened_at,
        alert.acknowledged_at,
        alert.acknowledged_by,
        alert.resolved_at,
        alert.resolved_by,
        alert.outcome.value if alert.outcome else None,
        version,
        now,
        list(alert.policy.fallback_staff_ids) if alert.policy else None,
        alert.reopens,
        alert.ack_expires_at,
        ack_expires_after_text(alert.policy) if alert.policy else None,
        alert.reopened_at,
    )


async def _project_timeline(
    conn: Connection, alert_id: UUID, version: int, events: list[AlertEvent]
) -> None:
    await conn.executemany(
        _INSERT_STEP,
        [
            (alert_id, version + i, e.at, kind_of(e), _jsonable(timeline_details(e)))
            for i, e in enumerate(events, start=1)
        ],
    )


async def _project_pages(conn: Connection, alert_id: UUID, events: list[AlertEvent]) -> None:
    for e in events:
        match e:
            case PageRequested():
                await conn.execute(
                    """INSERT INTO alert_pages (page_id, alert_id, staff_id, level, cycle, flag_id,
                           requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                    e.page_id,
                    alert_id,
                    e.staff_id,
                    e.level,
                    e.cycle,
                    e.flag_id,
                    e.at,
                )
            case PageSent():
                await conn.execute(
                    "UPDATE alert_pages SET sent_at = coalesce(sent_at, $2) WHERE page_id = $1",
                    e.page_id,
                    e.at,
                )
            case PageFailed():
                await conn.execute(
                    "UPDATE alert_pages SET failed_at = coalesce(failed_at, $2) WHERE page_id = $1",
                    e.page_id,
                    e.at,
                )
            case _:
                pass


_INSERT_STEP = (
    "INSERT INTO alert_timeline (alert_id, seq, at, kind, details) VALUES ($1, $2, $3, $4, $5)"
)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in details.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value if value is None or isinstance(value, int | str) else str(value)
