"""`GET /sites/{site_id}/contact-gaps`: the site's clients past the contact gap or in a cool-off
(contract: "Contact regularity"). Identifiers and instants only."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from counseling_shared.http.dependencies import Caller
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.service import runtime_of
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.adapters.regularity_store import watch_key
from followup.domain.regularity import Regularity

router = APIRouter(tags=["followup"])


class ContactGapOut(BaseModel):
    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = Field(description="Counselor of the latest completed session.")
    last_positive_contact_at: datetime | None
    past_gap: bool = Field(description="No positive contact for the site's `max_contact_gap`.")
    past_gap_since: datetime | None = Field(description="When the gap was detected.")
    next_gap_check_at: datetime | None = Field(
        description="When the gap timer fires next (None: not watched, e.g. paused or closed)."
    )
    last_negative_contact_at: datetime | None
    in_cooloff: bool
    cooloff_until: datetime | None = Field(
        description="Outreach to the client is held until then (crisis paths never are)."
    )

    @classmethod
    def of(cls, state: Regularity, now: datetime) -> ContactGapOut:
        assert state.site_id is not None
        return cls(
            client_id=state.client_id,
            site_id=state.site_id,
            counselor_id=state.counselor_id,
            last_positive_contact_at=state.last_positive_at,
            past_gap=state.gap_found_at is not None,
            past_gap_since=state.gap_found_at,
            next_gap_check_at=state.gap_due_at,
            last_negative_contact_at=state.last_negative_at,
            in_cooloff=state.in_cooloff(now),
            cooloff_until=state.cooloff_until if state.in_cooloff(now) else None,
        )


@router.get("/sites/{site_id}/contact-gaps", response_model=list[ContactGapOut], responses=PAGED)
async def list_contact_gaps(
    site_id: UUID, caller: Caller, request: Request, page: Page
) -> list[ContactGapOut]:
    """Clients of the site past `max_contact_gap` without a positive contact, or in a cool-off
    after a negative one, longest adrift first; a page at a time (`Link` and `Next-Cursor`
    headers when more follow)."""
    caller.require_site(site_id)
    runtime = runtime_of(request)
    now = runtime.clock.now()
    after = page.after(datetime, UUID)
    async with runtime.db().acquire() as conn:
        watch = await PostgresFollowupStore(conn).contact_watch(
            site_id, now, limit=page.fetch, after=(after[0], after[1]) if after else None
        )
    return [ContactGapOut.of(state, now) for state in page.serve(watch, key=watch_key)]
