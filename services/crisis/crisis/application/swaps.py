"""Shift swap requests: asking, taking (the override goes in with the take), cancelling and
expiring. Each step appends to the request's stream, writes its row and publishes its event
(notify emails the staff concerned) in the one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from counseling_shared import events as public
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import policies, schedules, staff, swaps
from crisis.adapters.policies import SitePolicy
from crisis.adapters.swaps import StoredSwap
from crisis.application.schedules import ScheduleNotFound, add_override
from crisis.domain.policy import schedules_of
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.schedule import Schedule
from crisis.domain.schedules.swaps import (
    SwapRequest,
    SwapStatus,
    build_swap_request,
    check_still_on_call,
    check_taker_adds_cover,
    check_taker_not_named_in_policy,
    check_taker_not_on_call_elsewhere,
    decide_cancel,
    decide_expire,
    decide_take,
)


class SwapNotFound(Exception):
    def __init__(self, swap_request_id: UUID) -> None:
        super().__init__(f"no swap request {swap_request_id}")
        self.swap_request_id = swap_request_id


async def request_swap(
    uow: UnitOfWork,
    swap_request_id: UUID,
    schedule_id: UUID,
    requester_id: UUID,
    start: datetime,
    end: datetime,
    offered_to: Sequence[UUID] | None,
) -> StoredSwap:
    """Raises `InvalidSwap` when `[start, end)` is not all the requester's own on-call time or
    the staff offered are not the schedule's other participants."""
    stored = await schedules.state_of(uow.conn, schedule_id)
    if stored is None:
        raise ScheduleNotFound(schedule_id)
    state = stored.state
    unavailable = await staff.inactive_among(uow.conn, state.schedule.participants)
    request = build_swap_request(
        swap_request_id,
        state.schedule,
        state.overrides,
        requester_id,
        start,
        end,
        offered_to,
        uow.now(),
        unavailable,
    )
    return await _save(uow, request, None)


async def take_swap(
    uow: UnitOfWork,
    swap_request_id: UUID,
    taker: UUID,
    override_id: UUID,
    *,
    require_known_staff: bool,
) -> StoredSwap:
    """First taker wins (the row is locked; a later take finds it taken: `SwapConflict`). The
    override replacing the requester by `taker` is added to the schedule in the same
    transaction. Raises `NotOffered`, `SwapConflict` (`TakerOnCall`: the taker is on call already
    for some of it, on this schedule or another of an escalation policy naming it, or is named
    in a level of such a policy),
    `InvalidOverride` (a deactivated taker).

    One take per taker at a time (`lock_taker`, before the request's row): their other takes
    change the schedules `check_taker_not_on_call_elsewhere` reads."""
    await swaps.lock_taker(uow.conn, taker)
    loaded = await _lock(uow, swap_request_id)
    taken = decide_take(loaded.request, taker, override_id, uow.now())
    schedule_id = taken.schedule_id
    if not await schedules.lock(uow.conn, schedule_id):
        raise ScheduleNotFound(schedule_id)
    current = await schedules.state_of(uow.conn, schedule_id)
    assert current is not None
    check_still_on_call(taken, current.state.schedule, current.state.overrides)
    check_taker_adds_cover(taken, current.state.schedule, current.state.overrides)
    named = await policies.policies_naming_schedule(uow.conn, schedule_id)
    # A round-robin level passes over whoever this alert paged already: naming the taker there
    # pages nobody twice, so only plain levels count (numbered as they stand).
    check_taker_not_named_in_policy(
        taken,
        [[() if lv.round_robin else lv.staff_ids for lv in p.policy.levels] for p in named],
    )
    check_taker_not_on_call_elsewhere(taken, await _policy_neighbours(uow, named, schedule_id))
    override = taken.override()
    await add_override(
        uow,
        schedule_id,
        override.override_id,
        override.staff_id,
        override.start,
        override.end,
        override.replaces,
        require_known_staff=require_known_staff,
    )
    return await _save(uow, taken, loaded)


async def _policy_neighbours(
    uow: UnitOfWork, naming: Sequence[SitePolicy], schedule_id: UUID
) -> list[tuple[Schedule, tuple[Override, ...]]]:
    """The other schedules of every escalation policy that names `schedule_id`, as they stand
    (read, not locked: the taker's own takes wait for each other, `lock_taker`; an override or
    an edit racing the take is not seen, and neither is checked for the taker anyway)."""
    named = {other for site_policy in naming for other in schedules_of(site_policy.policy)} - {
        schedule_id
    }
    states = await schedules.states_of(uow.conn, named)
    return [
        (state.schedule, state.overrides)
        for _, state in sorted(states.items(), key=lambda i: str(i[0]))
    ]


async def cancel_swap(uow: UnitOfWork, swap_request_id: UUID) -> StoredSwap:
    """Raises `SwapConflict` unless the request is still open."""
    loaded = await _lock(uow, swap_request_id)
    return await _save(uow, decide_cancel(loaded.request, uow.now()), loaded)


async def expire_swap(uow: UnitOfWork, swap_request_id: UUID) -> None:
    """The timer: an open request whose start has come expires (the requester stays on call)."""
    loaded = await swaps.lock(uow.conn, swap_request_id)
    if loaded is None:
        return
    expired = decide_expire(loaded.request, uow.now())
    if expired is not None:
        await _save(uow, expired, loaded)


async def _lock(uow: UnitOfWork, swap_request_id: UUID) -> StoredSwap:
    loaded = await swaps.lock(uow.conn, swap_request_id)
    if loaded is None:
        raise SwapNotFound(swap_request_id)
    return loaded


async def _save(uow: UnitOfWork, request: SwapRequest, loaded: StoredSwap | None) -> StoredSwap:
    event = public_event(request)
    saved = await swaps.save(uow, request, loaded, event)
    uow.publish(event, subject=request.swap_request_id)
    return saved


def public_event(request: SwapRequest) -> public.IntegrationEvent:
    """The event of the request's latest step: ids and instants only."""
    fields = {
        "swap_request_id": request.swap_request_id,
        "schedule_id": request.schedule_id,
        "site_id": request.site_id,
        "requester_id": request.requester_id,
        "offered_to": list(request.offered_to),
        "start": request.start,
        "end": request.end,
    }
    match request.status:
        case SwapStatus.OPEN:
            return public.ShiftSwapRequested(**fields)
        case SwapStatus.TAKEN:
            return public.ShiftSwapTaken(
                **fields, taken_by=request.taken_by, override_id=request.override_id
            )
        case SwapStatus.CANCELLED:
            return public.ShiftSwapCancelled(**fields)
        case SwapStatus.EXPIRED:
            return public.ShiftSwapExpired(**fields)
