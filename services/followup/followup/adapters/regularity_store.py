"""asyncpg storage of contact regularity: the `contact_regularity` table (migrations/0004).

Mixed into `PostgresFollowupStore`, so the write path keeps one store per transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from counseling_shared.scheduler import notify_timer_added
from followup.domain.regularity import Regularity

if TYPE_CHECKING:
    from counseling_shared.db import Connection

GAP_TIMER_CHANNEL = "contact_gaps_due"


_COLUMNS = (
    "id",
    "site_id",
    "counselor_id",
    "last_positive_at",
    "last_negative_at",
    "cooloff_until",
    "due_at",
    "gap_found_at",
    "version",
)


def _row(state: Regularity) -> tuple[object, ...]:
    """A client's `contact_regularity` row, in `_COLUMNS`' order."""
    return (
        state.client_id,
        state.site_id,
        state.counselor_id,
        state.last_positive_at,
        state.last_negative_at,
        state.cooloff_until,
        state.gap_due_at,
        state.gap_found_at,
        state.version,
    )


class PostgresRegularityStore:
    conn: Connection

    async def regularity(self, client_id: UUID, *, for_update: bool = False) -> Regularity | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT * FROM contact_regularity WHERE id = $1{lock}", client_id
        )
        return regularity_from_row(row) if row else None

    async def save_regularity(self, state: Regularity) -> None:
        """Upsert the row; wakes the gap scheduler when the timer was armed or moved."""
        assert state.site_id is not None, "a regularity row belongs to a site"
        await self.conn.execute(
            f"""INSERT INTO contact_regularity ({", ".join(_COLUMNS)})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (id) DO UPDATE SET site_id = $2, counselor_id = $3,
                   last_positive_at = $4, last_negative_at = $5, cooloff_until = $6,
                   due_at = $7, gap_found_at = $8, version = $9""",
            *_row(state),
        )
        if state.gap_due_at is not None:
            await notify_timer_added(self.conn, GAP_TIMER_CHANNEL, state.gap_due_at)

    async def save_replayed_regularity(self, state: Regularity) -> None:
        """A rebuild's save into the emptied table: `save_regularity`'s row as a plain insert
        (one COPY per batch by a rebuild's recorder), once per client from its final state."""
        assert state.site_id is not None, "a regularity row belongs to a site"
        await self.conn.copy_records_to_table(
            "contact_regularity", records=(_row(state),), columns=_COLUMNS
        )
        if state.gap_due_at is not None:
            await notify_timer_added(self.conn, GAP_TIMER_CHANNEL, state.gap_due_at)

    async def contact_watch(
        self,
        site_id: UUID,
        now: datetime,
        *,
        limit: int,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[Regularity]:
        """The site's clients past the gap or in a cool-off now, the longest adrift first (never
        in touch first), one keyset page after `after` (`watch_key` of the last one served)."""
        rows = await self.conn.fetch(
            """SELECT * FROM contact_regularity
               WHERE site_id = $1
                 AND (gap_found_at IS NOT NULL OR cooloff_until > $2)
                 AND ($4::timestamptz IS NULL
                      OR (COALESCE(last_positive_at, $6), id) > ($4, $5))
               ORDER BY COALESCE(last_positive_at, $6), id LIMIT $3""",
            site_id,
            now,
            limit,
            after[0] if after else None,
            after[1] if after else None,
            NEVER_IN_TOUCH,
        )
        return [regularity_from_row(r) for r in rows]


NEVER_IN_TOUCH = datetime(1, 1, 1, tzinfo=UTC)
"""Where a client never in positive contact sorts in the contact watch: before everyone."""


def watch_key(state: Regularity) -> tuple[datetime, UUID]:
    """A client's place in the contact watch (its page cursor)."""
    return (state.last_positive_at or NEVER_IN_TOUCH, state.client_id)


async def regularity_counts(
    conn: Connection, now: datetime
) -> tuple[dict[UUID, int], dict[UUID, int]]:
    """Per site: clients past the gap, clients in a cool-off (through the partial index)."""
    rows = await conn.fetch(
        """SELECT site_id,
                  count(*) FILTER (WHERE gap_found_at IS NOT NULL) AS past_gap,
                  count(*) FILTER (WHERE cooloff_until > $1) AS in_cooloff
           FROM contact_regularity
           WHERE gap_found_at IS NOT NULL OR cooloff_until IS NOT NULL
           GROUP BY site_id""",
        now,
    )
    return (
        {r["site_id"]: r["past_gap"] for r in rows},
        {r["site_id"]: r["in_cooloff"] for r in rows},
    )


def regularity_from_row(row: asyncpg.Record) -> Regularity:
    return Regularity(
        client_id=row["id"],
        site_id=row["site_id"],
        version=row["version"],
        counselor_id=row["counselor_id"],
        last_positive_at=row["last_positive_at"],
        last_negative_at=row["last_negative_at"],
        cooloff_until=row["cooloff_until"],
        gap_due_at=row["due_at"],
        gap_found_at=row["gap_found_at"],
    )
