"""Read side of alerts for the HTTP API: rows as plain dicts, straight from the projections."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_SUMMARY = """id, client_id, site_id, level, status, current_level, cycle, exhausted,
    escalation_due_at, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
    outcome, ack_expires_at"""


async def alert_site(conn: Connection, alert_id: UUID) -> UUID | None:
    site: UUID | None = await conn.fetchval("SELECT site_id FROM alerts WHERE id = $1", alert_id)
    return site


async def alert_view(conn: Connection, alert_id: UUID) -> dict[str, Any] | None:
    """The alert with its frozen policy, pages and timeline, as of one instant.

    Its rows are read by several queries: outside a transaction they share one snapshot, or a
    change committed between them (an escalation) would show a timeline step without its pages.
    """
    if conn.is_in_transaction():
        return await _read_view(conn, alert_id)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _read_view(conn, alert_id)


async def _read_view(conn: Connection, alert_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""SELECT {_SUMMARY}, policy_levels, policy_repeat, policy_fallback_staff_ids,
                   policy_ack_expires_after
            FROM alerts WHERE id = $1""",
        alert_id,
    )
    if row is None:
        return None
    view = dict(row)
    levels, repeat = view.pop("policy_levels"), view.pop("policy_repeat")
    fallback = view.pop("policy_fallback_staff_ids") or []
    expires = view.pop("policy_ack_expires_after")
    view["policy"] = (
        {
            "levels": levels,
            "repeat": repeat,
            "fallback_staff_ids": fallback,
            "ack_expires_after": expires,
        }
        if levels is not None
        else None
    )
    view["pages"] = [
        dict(p)
        for p in await conn.fetch(
            """SELECT page_id, staff_id, level, cycle, requested_at, sent_at, failed_at
               FROM alert_pages WHERE alert_id = $1 ORDER BY requested_at, cycle, level, page_id""",
            alert_id,
        )
    ]
    view["timeline"] = [
        {"seq": t["seq"], "at": t["at"], "kind": t["kind"], **t["details"]}
        for t in await conn.fetch(
            "SELECT seq, at, kind, details FROM alert_timeline WHERE alert_id = $1 ORDER BY seq",
            alert_id,
        )
    ]
    return view


async def list_alerts(
    conn: Connection,
    *,
    site_id: UUID | None,
    allowed_sites: Collection[UUID] | None,
    status: str | None,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[dict[str, Any]]:
    """Newest first. `allowed_sites` None: every site the caller may see. `before` continues
    a page after that (opened_at, id), going back in time."""
    rows = await conn.fetch(
        f"""SELECT {_SUMMARY} FROM alerts
            WHERE ($1::uuid IS NULL OR site_id = $1)
              AND ($2::uuid[] IS NULL OR site_id = ANY($2))
              AND ($3::text IS NULL OR status = $3)
              AND ($5::timestamptz IS NULL OR (opened_at, id) < ($5, $6::uuid))
            ORDER BY opened_at DESC, id DESC LIMIT $4""",
        site_id,
        list(allowed_sites) if allowed_sites is not None else None,
        status,
        limit,
        before[0] if before else None,
        before[1] if before else None,
    )
    return [dict(r) for r in rows]


async def open_alert_counts(conn: Connection) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT status, count(*) AS n FROM alerts
           WHERE status IN ('open', 'acknowledged') GROUP BY status"""
    )
    counts = {"open": 0, "acknowledged": 0}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


async def open_exhausted_count(conn: Connection) -> int:
    """Open (unacknowledged) alerts whose chain is exhausted: nothing more is scheduled for
    them, so nobody else is paged until a person acknowledges or resolves them."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM alerts WHERE status = 'open' AND exhausted"
    )
    return count


async def oldest_acknowledgement_age(conn: Connection, now: datetime) -> float:
    """Seconds since the longest-held acknowledged, unresolved alert was acknowledged (0 when
    none is): an alert taken and then left, which nothing pages about by default."""
    age: float | None = await conn.fetchval(
        """SELECT extract(epoch FROM $1::timestamptz - min(acknowledged_at))::float8
           FROM alerts WHERE status = 'acknowledged'""",
        now,
    )
    return max(age or 0.0, 0.0)


async def unsent_page_count(conn: Connection, now: datetime, after_seconds: float) -> int:
    """Pages of open alerts requested more than `after_seconds` ago that no channel has delivered
    nor given up on: the staff member should have been reached by now. A re-opened alert's
    pages from before its re-opening do not count: the acknowledgement withdrew those notify
    had not sent yet, and they will never be."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM alert_pages p JOIN alerts a ON a.id = p.alert_id
           WHERE p.sent_at IS NULL AND p.failed_at IS NULL
             AND p.requested_at < $1::timestamptz - make_interval(secs => $2)
             AND a.status = 'open'
             AND (a.reopened_at IS NULL OR p.requested_at >= a.reopened_at)""",
        now,
        after_seconds,
    )
    return count


async def page_of(conn: Connection, page_id: UUID) -> dict[str, Any] | None:
    """The page with the alert it belongs to: `alert_id`, `staff_id`, `site_id`, `client_id`."""
    row = await conn.fetchrow(
        """SELECT p.page_id, p.alert_id, p.staff_id, a.site_id, a.client_id
           FROM alert_pages p JOIN alerts a ON a.id = p.alert_id WHERE p.page_id = $1""",
        page_id,
    )
    return dict(row) if row is not None else None


async def page_with_code(
    conn: Connection, staff_ids: Collection[UUID], code: str
) -> dict[str, Any] | None:
    """The latest page to one of `staff_ids` whose id starts with `code` (hex, any case),
    with its step (`level`, `cycle`) and its alert's `status`."""
    row = await conn.fetchrow(
        """SELECT p.page_id, p.alert_id, p.staff_id, p.level, p.cycle, a.site_id, a.status
           FROM alert_pages p JOIN alerts a ON a.id = p.alert_id
           WHERE p.staff_id = ANY($1::uuid[]) AND p.page_id::text LIKE $2
           ORDER BY p.requested_at DESC LIMIT 1""",
        list(staff_ids),
        code.lower() + "%",
    )
    return dict(row) if row is not None else None


async def was_paged(conn: Connection, alert_id: UUID, staff_id: UUID) -> bool:
    """Whether the alert has paged this staff member (at any level or as fallback)."""
    found = await conn.fetchval(
        "SELECT true FROM alert_pages WHERE alert_id = $1 AND staff_id = $2 LIMIT 1",
        alert_id,
        staff_id,
    )
    return bool(found)
