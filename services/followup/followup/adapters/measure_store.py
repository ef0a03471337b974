"""asyncpg implementation of `MeasureStore`: the tables of migrations/0005."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.codes import Instrument, MeasureBand
from followup.domain.followup import FollowUp
from followup.domain.measures.answers import CheckinAnswers
from followup.domain.measures.scoring import RecordedScore, Score

if TYPE_CHECKING:
    from counseling_shared.db import Connection


class PostgresMeasureStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def save_response(
        self,
        followup: FollowUp,
        link_id: UUID,
        answers: CheckinAnswers,
        submitted_at: datetime,
    ) -> bool:
        status: str = await self.conn.execute(
            """INSERT INTO checkin_responses (followup_id, client_id, site_id, link_id, wellbeing,
                   wants_contact, answers, comment, submitted_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (followup_id) DO NOTHING""",
            followup.id,
            followup.client_id,
            followup.site_id,
            link_id,
            answers.wellbeing,
            answers.wants_contact if answers.wellbeing is not None else None,
            {i.value: list(items) for i, items in answers.measures.items()},
            answers.comment,
            submitted_at,
        )
        return status.endswith(" 1")

    async def save_score(self, followup: FollowUp, score: Score, recorded_at: datetime) -> None:
        await self.conn.execute(
            """INSERT INTO measures (followup_id, instrument, client_id, site_id, score, band,
                   recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            followup.id,
            score.instrument.value,
            followup.client_id,
            followup.site_id,
            score.total,
            score.band.value,
            recorded_at,
        )

    async def satisfaction_answers(
        self, site_id: UUID, since: datetime | None, until: datetime | None
    ) -> list[tuple[UUID | None, int]]:
        """(counselor, rating) of the site's answered rating requests, completed in
        [since, until)."""
        rows = await self.conn.fetch(
            """SELECT counselor_id, satisfaction FROM followups
               WHERE site_id = $1 AND kind = 'satisfaction' AND satisfaction IS NOT NULL
                 AND ($2::timestamptz IS NULL OR completed_at >= $2)
                 AND ($3::timestamptz IS NULL OR completed_at < $3)""",
            site_id,
            since,
            until,
        )
        return [(r["counselor_id"], r["satisfaction"]) for r in rows]

    async def scores_of(
        self,
        client_id: UUID,
        *,
        limit: int | None = None,
        after: tuple[datetime, str, UUID] | None = None,
        instruments: Collection[Instrument] | None = None,
    ) -> list[RecordedScore]:
        """The client's scores, oldest first; `limit` of them after the key `after`
        (recorded_at, instrument, followup_id: unique, so a page never repeats or skips), of
        the given `instruments` only when named (filtered here, so a page is a full page)."""
        rows = await self.conn.fetch(
            """SELECT followup_id, instrument, score, band, recorded_at FROM measures
               WHERE client_id = $1
                 AND ($2::timestamptz IS NULL
                      OR (recorded_at, instrument, followup_id) > ($2, $3::text, $4::uuid))
                 AND ($6::text[] IS NULL OR instrument = ANY($6::text[]))
               ORDER BY recorded_at, instrument, followup_id
               LIMIT $5""",
            client_id,
            after[0] if after else None,
            after[1] if after else None,
            after[2] if after else None,
            limit,
            None if instruments is None else [i.value for i in instruments],
        )
        return [
            RecordedScore(
                r["followup_id"],
                Instrument(r["instrument"]),
                r["score"],
                MeasureBand(r["band"]),
                r["recorded_at"],
            )
            for r in rows
        ]
