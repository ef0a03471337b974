"""Request and response bodies of the shift swap routes (an extension of the contract)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from counseling_shared.http.bodies import Instant, RequestBody
from crisis.domain.schedules.swaps import SwapStatus


class SwapRequestBody(RequestBody):
    start: Instant = Field(
        description="The start of the part of the requester's own shifts to give away (in the"
        " future)."
    )
    end: Instant = Field(
        description="Its end: all of `[start, end)` must be time the requester is on call for,"
        " as `GET /schedules/{id}/shifts` shows it."
    )
    offered_to: list[UUID] | None = Field(
        default=None,
        max_length=100,
        description="Who may take it: other participants of the schedule. Absent: every other"
        " participant (deactivated staff left out).",
    )
    requester_id: UUID | None = Field(
        default=None,
        description="Whose shifts: only an admin key names them (asking on their behalf); a"
        " staff key asks for itself.",
    )


class SwapActorBody(RequestBody):
    staff_id: UUID | None = Field(
        default=None,
        description="Who acts: only an admin key names them (acting for that staff member); a"
        " staff key acts as its own staff member.",
    )


class SwapRequestOut(BaseModel):
    id: UUID
    schedule_id: UUID
    site_id: UUID
    status: SwapStatus = Field(
        description="`open` until taken, cancelled, or `expired` at its start (nobody took"
        " it: the requester stays on call)."
    )
    requester_id: UUID
    start: datetime
    end: datetime
    offered_to: list[UUID]
    expires_at: datetime = Field(description="When an open request expires: its `start`.")
    taken_by: UUID | None = Field(default=None, description="Who took it (status `taken`).")
    override_id: UUID | None = Field(
        default=None,
        description="The schedule's override the take added (status `taken`): deleting it"
        " puts the requester back on call.",
    )
    created_at: datetime
    updated_at: datetime
