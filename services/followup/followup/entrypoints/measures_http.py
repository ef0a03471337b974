"""The scores a client's answers made (contract v2: `GET /clients/{id}/measures`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from counseling_shared.codes import Instrument, MeasureBand
from counseling_shared.http.auth import Principal
from counseling_shared.http.dependencies import Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import NotFound
from counseling_shared.service import runtime_of
from followup.adapters.measure_store import PostgresMeasureStore
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.domain.measures.scoring import RecordedScore, max_score

router = APIRouter(tags=["measures"])


class MeasureOut(BaseModel):
    followup_id: UUID
    instrument: Instrument
    score: int
    max_score: int = Field(description="27 for PHQ-9, 21 for GAD-7.")
    band: MeasureBand
    recorded_at: datetime

    @classmethod
    def of(cls, s: RecordedScore) -> MeasureOut:
        return cls(
            followup_id=s.followup_id,
            instrument=s.instrument,
            score=s.total,
            max_score=max_score(s.instrument),
            band=s.band,
            recorded_at=s.recorded_at,
        )


async def client_scores(
    request: Request,
    caller: Principal,
    client_id: UUID,
    *,
    limit: int | None = None,
    after: tuple[datetime, str, UUID] | None = None,
    instruments: Collection[Instrument] | None = None,
) -> list[RecordedScore]:
    """The client's scores, oldest first (`limit` of them after `after`, else all; of
    `instruments` only when named): 404 for a client followup has not met, 403 for one of
    another site (as the client's preferences)."""
    async with runtime_of(request).db().acquire() as conn:
        client = await PostgresFollowupStore(conn).client(client_id)
        if client is None or client.site_id is None:
            raise NotFound("client", client_id)
        caller.require_site(client.site_id)  # also notes the site for the audit entry
        return await PostgresMeasureStore(conn).scores_of(
            client_id, limit=limit, after=after, instruments=instruments
        )


def score_key(s: RecordedScore) -> tuple[datetime, str, UUID]:
    """The list's sort key, unique per score (a follow-up scores each instrument once)."""
    return (s.recorded_at, s.instrument.value, s.followup_id)


@router.get(
    "/clients/{client_id}/measures",
    response_model=list[MeasureOut],
    responses={**PAGED, **problem_responses(403, 404)},
)
async def list_measures(
    client_id: UUID, caller: Person, request: Request, page: Page
) -> list[MeasureOut]:
    """The client's PHQ-9 and GAD-7 scores with their published bands, oldest first, a page at
    a time (`Link` and `Next-Cursor` headers when more follow); staff of the client's site and
    admins; an audited read."""
    after = page.after(datetime, str, UUID)
    key = (after[0], after[1], after[2]) if after else None
    scores = await client_scores(request, caller, client_id, limit=page.fetch, after=key)
    return [MeasureOut.of(s) for s in page.serve(scores, key=score_key)]
