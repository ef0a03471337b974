"""HTTP routes of shift swap requests (an extension of the contract): thin — parse,
authorise, hand to the application. A staff key acts as its own staff member; an admin key
names the one it acts for; an integration key may not change a schedule (403)."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Request

from counseling_shared import audit
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.auth import Principal, Role
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Conflict, NotFound, Problem, Unprocessable
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import unit_of_work
from crisis.adapters import schedules, swaps
from crisis.adapters.swaps import StoredSwap
from crisis.application import swaps as swap_commands
from crisis.application.schedules import ScheduleNotFound
from crisis.application.swaps import SwapNotFound
from crisis.domain.schedules.overrides import InvalidOverride
from crisis.domain.schedules.swaps import (
    InvalidSwap,
    NotOffered,
    SwapConflict,
    SwapStatus,
    TakerOnCall,
)
from crisis.entrypoints.swap_schemas import SwapActorBody, SwapRequestBody, SwapRequestOut
from crisis.settings import CrisisSettings

if TYPE_CHECKING:
    from counseling_shared.db import Connection

router = APIRouter(tags=["schedules"])

_NOT_OPEN = "The request is no longer open (taken, cancelled or expired)."


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


def _out(stored: StoredSwap) -> SwapRequestOut:
    r = stored.request
    return SwapRequestOut(
        id=r.swap_request_id,
        schedule_id=r.schedule_id,
        site_id=r.site_id,
        status=r.status,
        requester_id=r.requester_id,
        start=r.start,
        end=r.end,
        offered_to=list(r.offered_to),
        expires_at=r.expires_at,
        taken_by=r.taken_by,
        override_id=r.override_id,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


@router.post(
    "/schedules/{schedule_id}/swap-requests",
    status_code=201,
    responses=problem_responses(404),
)
async def post_swap_request(
    schedule_id: UUID, body: SwapRequestBody, request: Request, caller: Person
) -> SwapRequestOut:
    """Extension. Offer part of one's own shifts (`[start, end)`, all of it time the
    requester is on call for) to colleagues on the schedule; they are emailed. The first to
    take it replaces the requester there. Nobody taking it by `start`: it expires and the
    requester stays on call."""
    runtime = runtime_of(request)
    async with runtime.db().acquire() as conn:
        site_id = await _schedule_site(conn, schedule_id)
    caller.require_site(site_id)
    requester = _acting(caller, body.requester_id, "requester_id")
    swap_id = uuid4()
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            uow.name_resource(swap_id, f"/swap-requests/{swap_id}")
            stored = await swap_commands.request_swap(
                uow, swap_id, schedule_id, requester, body.start, body.end, body.offered_to
            )
    except ScheduleNotFound:
        raise NotFound("schedule", schedule_id) from None
    except InvalidSwap as exc:
        raise Unprocessable(str(exc), [{"field": exc.field, "message": exc.message}]) from None
    return _out(stored)


@router.get("/schedules/{schedule_id}/swap-requests", responses={**PAGED, **problem_responses(404)})
async def list_swap_requests(
    schedule_id: UUID,
    request: Request,
    caller: Caller,
    page: Page,
    status: SwapStatus | None = None,
) -> list[SwapRequestOut]:
    """Extension. The schedule's swap requests by `start`, a page at a time (`Link` and
    `Next-Cursor` headers when more follow); `status` keeps one status."""
    after = page.after(datetime, UUID)
    async with runtime_of(request).db().acquire() as conn:
        caller.require_site(await _schedule_site(conn, schedule_id))
        rows = await swaps.list_for_schedule(
            conn,
            schedule_id,
            status=status.value if status else None,
            limit=page.fetch,
            after=(after[0], after[1]) if after else None,
        )
    served = page.serve(rows, key=lambda s: (s.request.start, s.request.swap_request_id))
    return [_out(s) for s in served]


@router.get("/swap-requests/{swap_request_id}", responses=problem_responses(404))
async def get_swap_request(
    swap_request_id: UUID, request: Request, caller: Caller
) -> SwapRequestOut:
    """Extension. One swap request."""
    async with runtime_of(request).db().acquire() as conn:
        stored = await swaps.get(conn, swap_request_id)
    if stored is None:
        raise NotFound("swap request", swap_request_id)
    caller.require_site(stored.request.site_id)
    return _out(stored)


@router.post(
    "/swap-requests/{swap_request_id}/accept",
    responses=problem_responses(
        404,
        s409="The request was already taken (first taker wins), cancelled or expired, or"
        " the requester's shifts changed under it; or (`reason`) the taker is on call already"
        " for some of it: `taker_on_call` on this schedule, `taker_on_call_in_policy` on"
        " another schedule (`schedule_id`) of an escalation policy that names this one, or"
        " named in a level (`level`, extension) of such a policy.",
    ),
)
async def accept_swap_request(
    swap_request_id: UUID,
    request: Request,
    caller: Person,
    body: Annotated[SwapActorBody | None, Body()] = None,
) -> SwapRequestOut:
    """Extension. Take the shift: a staff member the request was offered to (a staff key as
    itself, an admin key naming `staff_id`). The override replacing the requester for
    `[start, end)` is added in the same transaction (`override_id`), so `/oncall`, `/shifts`
    and the calendar feed show the taker at once. The first taker wins; a later take is a
    409, and so is one after the requester's shifts changed under the request, and one by a
    colleague already on call for some of it (the schedule would page one person fewer)."""
    runtime = runtime_of(request)
    await _request_site(runtime, caller, swap_request_id)
    taker = _acting(caller, body.staff_id if body else None, "staff_id")
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            stored = await swap_commands.take_swap(
                uow,
                swap_request_id,
                taker,
                uuid4(),
                require_known_staff=_settings(runtime).require_known_staff,
            )
    except SwapNotFound:
        raise NotFound("swap request", swap_request_id) from None
    except NotOffered as exc:
        raise Problem(403, "forbidden", "Forbidden", str(exc)) from None
    except TakerOnCall as exc:
        raise _taker_on_call(exc, swap_request_id) from None
    except SwapConflict as exc:
        raise Conflict(str(exc), swap_request_id=str(swap_request_id)) from None
    except InvalidOverride as exc:
        raise Unprocessable(str(exc), [{"field": "staff_id", "message": exc.message}]) from None
    except ConcurrencyConflict:
        raise Conflict("The schedule changed at the same moment; try again.") from None
    return _out(stored)


@router.post(
    "/swap-requests/{swap_request_id}/cancel",
    responses=problem_responses(404, s409=_NOT_OPEN),
)
async def cancel_swap_request(
    swap_request_id: UUID,
    request: Request,
    caller: Person,
    body: Annotated[SwapActorBody | None, Body()] = None,
) -> SwapRequestOut:
    """Extension. Withdraw an open request: its requester (a staff key), or an admin key.
    The staff offered it are told."""
    runtime = runtime_of(request)
    stored = await _request_site(runtime, caller, swap_request_id)
    if caller.role is Role.STAFF:
        _acting(caller, body.staff_id if body else None, "staff_id")
        if caller.staff_id != stored.request.requester_id:
            raise Problem(
                403, "forbidden", "Forbidden", "Only the requester (or an admin) may cancel it."
            )
    elif body is not None and body.staff_id is not None:
        audit.act_for(body.staff_id)
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            cancelled = await swap_commands.cancel_swap(uow, swap_request_id)
    except SwapNotFound:
        raise NotFound("swap request", swap_request_id) from None
    except SwapConflict as exc:
        raise Conflict(str(exc), swap_request_id=str(swap_request_id)) from None
    return _out(cancelled)


def _taker_on_call(refusal: TakerOnCall, swap_request_id: UUID) -> Conflict:
    """The 409 of a taker already on call, with its coded `reason` (and the other schedule)."""
    extensions: dict[str, str | int] = {
        "swap_request_id": str(swap_request_id),
        "reason": refusal.reason,
    }
    if refusal.schedule_id is not None:
        extensions["schedule_id"] = str(refusal.schedule_id)
    if refusal.level is not None:
        extensions["level"] = refusal.level
    return Conflict(str(refusal), **extensions)


def _acting(caller: Principal, named: UUID | None, field: str) -> UUID:
    """The staff member acting: a staff key's own, or the one an admin key names."""
    if caller.role is Role.STAFF:
        assert caller.staff_id is not None
        if named is not None and named != caller.staff_id:
            raise Problem(
                403,
                "forbidden",
                "Forbidden",
                f"A staff key acts as its own staff member; only an admin key names {field}.",
            )
        return caller.staff_id
    if named is None:
        raise Unprocessable(
            "An admin key names the staff member it acts for.",
            [{"field": field, "message": "required with an admin key"}],
        )
    audit.act_for(named)
    return named


async def _schedule_site(conn: "Connection", schedule_id: UUID) -> UUID:
    sites = await schedules.sites_of(conn, [schedule_id])
    if schedule_id not in sites:
        raise NotFound("schedule", schedule_id)
    return sites[schedule_id]


async def _request_site(runtime: Runtime, caller: Principal, swap_request_id: UUID) -> StoredSwap:
    async with runtime.db().acquire() as conn:
        stored = await swaps.get(conn, swap_request_id)
    if stored is None:
        raise NotFound("swap request", swap_request_id)
    caller.require_site(stored.request.site_id)
    return stored
