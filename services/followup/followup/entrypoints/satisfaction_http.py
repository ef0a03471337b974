"""Satisfaction per site and per counselor (contract v2: `GET /sites/{id}/satisfaction`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Caller
from counseling_shared.service import runtime_of
from followup.adapters.measure_store import PostgresMeasureStore
from followup.domain.satisfaction import RatingSummary, summarise

router = APIRouter(tags=["satisfaction"])


class RatingsOut(BaseModel):
    count: int
    mean: float | None = Field(description="Mean rating (2 decimals); null when none answered.")
    distribution: dict[str, int] = Field(description="How many answered each rating 1-5.")

    @classmethod
    def of(cls, summary: RatingSummary) -> RatingsOut:
        return cls(
            count=summary.count,
            mean=summary.mean,
            distribution={str(r): n for r, n in summary.distribution.items()},
        )


class CounselorRatingsOut(RatingsOut):
    counselor_id: UUID | None = Field(
        description="null: sessions whose counselor followup did not know."
    )


class SatisfactionOut(RatingsOut):
    site_id: UUID
    per_counselor: list[CounselorRatingsOut]


@router.get("/sites/{site_id}/satisfaction", response_model=SatisfactionOut)
async def site_satisfaction(
    site_id: UUID,
    caller: Caller,
    request: Request,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
) -> SatisfactionOut:
    """Clients' 1-5 ratings of their sessions (answered rating requests, kind `satisfaction`),
    completed in [`from`, `to`): count, mean and distribution, for the site and per counselor."""
    caller.require_site(site_id)
    async with runtime_of(request).db().acquire() as conn:
        answers = await PostgresMeasureStore(conn).satisfaction_answers(site_id, since, until)
    summary = summarise(answers)
    overall = RatingsOut.of(summary.overall)
    return SatisfactionOut(
        site_id=site_id,
        **overall.model_dump(),
        per_counselor=[
            CounselorRatingsOut(counselor_id=c, **RatingsOut.of(s).model_dump())
            for c, s in sorted(summary.per_counselor.items(), key=lambda i: str(i[0]))
        ],
    )
