"""Read side of the HTTP API: notifications with their attempts."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_COLUMNS = """id, recipient_id, recipient_kind, site_id, channel, template, status, attempts,
    sent_at, failed_at, cause_event_id, page_id, lane, next_attempt_at, hold_reason,
    last_error, created_at, params->>'kind' AS kind, receipt_status, receipt_error_code,
    receipt_at, receipt_provider"""


async def find(
    conn: Connection,
    *,
    recipient_id: UUID | None,
    status: str | None,
    lane: str | None,
    template: str | None,
    site_ids: Collection[UUID] | None,
    limit: int,
    before: tuple[datetime, UUID] | None = None,
) -> list[asyncpg.Record]:
    """Newest first. `site_ids` None: every site (an admin key). `before` continues a page
    after that (created_at, id), going back in time."""
    return await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notifications
            WHERE ($1::uuid IS NULL OR recipient_id = $1)
              AND ($2::text IS NULL OR status = $2)
              AND ($3::text IS NULL OR lane = $3)
              AND ($4::text IS NULL OR template = $4)
              AND ($5::uuid[] IS NULL OR site_id = ANY($5))
              AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
            ORDER BY created_at DESC, id DESC
            LIMIT $6""",
        recipient_id,
        status,
        lane,
        template,
        list(site_ids) if site_ids is not None else None,
        limit,
        before[0] if before else None,
        before[1] if before else None,
    )


async def get(conn: Connection, notification_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM notifications WHERE id = $1", notification_id
    )


async def attempts(conn: Connection, notification_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT number, at, channel, outcome, error_code FROM notification_attempts
           WHERE notification_id = $1 ORDER BY number""",
        notification_id,
    )
