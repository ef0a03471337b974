"""`PUT /staff/{id}/pin`: an admin sets the PIN a staff member confirms on the on-call page."""

from uuid import UUID

from fastapi import APIRouter, Request, Response

from counseling_shared.http.dependencies import Admin
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import NotFound, Unprocessable
from counseling_shared.service import runtime_of
from counseling_shared.unit_of_work import unit_of_work
from crisis.application import pins
from crisis.domain.pins import InvalidPin
from crisis.entrypoints.schemas import StaffPinBody

router = APIRouter(tags=["staff"])


@router.put(
    "/staff/{staff_id}/pin",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def put_staff_pin(
    staff_id: UUID, body: StaffPinBody, request: Request, caller: Admin
) -> Response:
    """Set (or replace) the staff member's PIN; wrong tries start again from zero. 404 for a
    staff member crisis has not heard of (booking's StaffRegistered)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        site_id = await uow.conn.fetchval("SELECT site_id FROM staff WHERE staff_id = $1", staff_id)
        if site_id is None:
            raise NotFound("staff member", staff_id)
        caller.require_site(site_id)
        try:
            await pins.set_pin(uow, staff_id, body.pin)
        except InvalidPin as exc:
            raise Unprocessable(str(exc), [{"field": "pin", "message": str(exc)}]) from None
    return Response(status_code=204)
