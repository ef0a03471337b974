"""Shift swap requests: an on-call staff member offers part of their own shifts, and the first
colleague offered who takes it replaces them there (an override, added with the take).

A request is `open` until it is taken, cancelled, or its `start` passes (`expired`: the
requester stays on call). Pure: the calculator answers who is on call, these rules the rest.
"""

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from crisis.domain.schedules.oncall import shifts
from crisis.domain.schedules.overrides import MAX_OVERRIDE_LENGTH_DAYS, Override
from crisis.domain.schedules.schedule import Schedule


class SwapStatus(enum.StrEnum):
    OPEN = "open"
    TAKEN = "taken"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class SwapRequest:
    swap_request_id: UUID
    schedule_id: UUID
    site_id: UUID
    requester_id: UUID
    offered_to: tuple[UUID, ...]
    start: datetime
    end: datetime
    status: SwapStatus = SwapStatus.OPEN
    taken_by: UUID | None = None
    override_id: UUID | None = None

    @property
    def expires_at(self) -> datetime:
        """Nobody can take a shift that has begun: an open request ends at its start."""
        return self.start

    def override(self) -> Override:
        """The override a take adds: the taker replaces the requester for `[start, end)`."""
        assert self.taken_by is not None
        assert self.override_id is not None
        return Override(self.override_id, self.taken_by, self.start, self.end, self.requester_id)


class InvalidSwap(ValueError):
    """The request breaks a rule (`field`, `message`): a 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SwapConflict(Exception):
    """The request is no longer open, or the schedule moved under it: a 409."""


TAKER_ON_CALL = "taker_on_call"
"""The 409's `reason`: the taker is on call already for some of it on the same schedule."""
TAKER_ON_CALL_IN_POLICY = "taker_on_call_in_policy"
"""The 409's `reason`: the taker is on call already for some of it on another schedule of an
escalation policy that pages this one, or named in one of its levels' `staff_ids` (they would
be paged twice, one person fewer paged)."""


class TakerOnCall(SwapConflict):
    """The taker is on call already for some of the request: beside the requester on the same
    schedule (`reason` `taker_on_call`), or on another schedule of an escalation policy naming
    this one (`taker_on_call_in_policy`, `schedule_id` names it) or named directly in one of
    its levels (`taker_on_call_in_policy`, `level` is that level, 1-based): a 409."""

    def __init__(
        self,
        message: str,
        reason: str = TAKER_ON_CALL,
        schedule_id: UUID | None = None,
        level: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.schedule_id = schedule_id
        self.level = level


class NotOffered(Exception):
    """The staff member is not among those the request was offered to: a 403."""


def uncovered(
    schedule: Schedule,
    overrides: Sequence[Override],
    staff_id: UUID,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime]]:
    """The stretches of `[start, end)` in which `staff_id` is not on call (layers, restrictions
    and overrides as `GET /shifts` answers them)."""
    own = sorted(
        (s.start, s.end) for s in shifts(schedule, overrides, start, end) if s.staff_id == staff_id
    )
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for s_start, s_end in own:
        if s_start > cursor:
            gaps.append((cursor, s_start))
        cursor = max(cursor, s_end)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def build_swap_request(
    swap_request_id: UUID,
    schedule: Schedule,
    overrides: Sequence[Override],
    requester_id: UUID,
    start: datetime,
    end: datetime,
    offered_to: Sequence[UUID] | None,
    now: datetime,
    unavailable: frozenset[UUID] = frozenset(),
) -> SwapRequest:
    """Check a request and build it, or raise `InvalidSwap`. `offered_to` None: every other
    participant of the schedule except those `unavailable` (deactivated)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidSwap("start", "start and end need a UTC offset")
    if end <= start:
        raise InvalidSwap("end", "must be after start")
    if end - start > timedelta(days=MAX_OVERRIDE_LENGTH_DAYS):
        raise InvalidSwap("end", f"a swap lasts at most P{MAX_OVERRIDE_LENGTH_DAYS}D")
    if start <= now:
        raise InvalidSwap("start", "must be in the future: a shift that has begun is not swapped")
    gaps = uncovered(schedule, overrides, requester_id, start, end)
    if gaps:
        first = gaps[0]
        raise InvalidSwap(
            "start",
            f"{requester_id} is not on call for all of it (not from"
            f" {first[0].astimezone(UTC).isoformat()} to {first[1].astimezone(UTC).isoformat()})",
        )
    candidates = _candidates(schedule, requester_id, offered_to, unavailable)
    return SwapRequest(
        swap_request_id,
        schedule.schedule_id,
        schedule.site_id,
        requester_id,
        candidates,
        start.astimezone(UTC),
        end.astimezone(UTC),
    )


def _candidates(
    schedule: Schedule,
    requester_id: UUID,
    offered_to: Sequence[UUID] | None,
    unavailable: frozenset[UUID],
) -> tuple[UUID, ...]:
    participants = schedule.participants
    if offered_to is None:
        found = sorted(participants - {requester_id} - unavailable, key=str)
        if not found:
            raise InvalidSwap("offered_to", "the schedule has nobody else to offer it to")
        return tuple(found)
    if not offered_to:
        raise InvalidSwap("offered_to", "name at least one staff member, or leave it out")
    for staff_id in offered_to:
        if staff_id == requester_id:
            raise InvalidSwap("offered_to", "a staff member cannot take their own shift")
        if staff_id not in participants:
            raise InvalidSwap("offered_to", f"{staff_id} is not a participant of the schedule")
        if staff_id in unavailable:
            raise InvalidSwap("offered_to", f"{staff_id} is deactivated and cannot be paged")
    return tuple(dict.fromkeys(offered_to))


def decide_take(request: SwapRequest, taker: UUID, override_id: UUID, now: datetime) -> SwapRequest:
    """The first taker wins: any take after it (or after a cancel or the start) conflicts."""
    _open(request, now)
    if taker not in request.offered_to:
        raise NotOffered(f"{taker} is not among the staff this request was offered to")
    return replace(request, status=SwapStatus.TAKEN, taken_by=taker, override_id=override_id)


def check_still_on_call(
    request: SwapRequest, schedule: Schedule, overrides: Sequence[Override]
) -> None:
    """At the take: the requester must still be on call for all of it (the schedule may have
    changed since), else the override would leave someone else's shift uncovered."""
    if uncovered(schedule, overrides, request.requester_id, request.start, request.end):
        raise SwapConflict(
            "The schedule changed since the request: the requester is no longer on call for"
            " all of it. Ask again for the shifts they now have."
        )


def check_taker_adds_cover(
    request: SwapRequest, schedule: Schedule, overrides: Sequence[Override]
) -> None:
    """At the take: the taker must not be on call already for any of it (added beside the
    requester by an override, say). Replacing the requester by someone already there would
    leave one person where there were two: the schedule would page one person fewer."""
    assert request.taken_by is not None
    on_call = shifts(schedule, overrides, request.start, request.end)
    if any(s.staff_id == request.taken_by for s in on_call):
        raise TakerOnCall(
            f"{request.taken_by} is already on call for some of it: taking it would leave one"
            " person where there were two. Another colleague may take it."
        )


def check_taker_not_on_call_elsewhere(
    request: SwapRequest, others: Sequence[tuple[Schedule, Sequence[Override]]]
) -> None:
    """At the take: the taker must not be on call for any of it on another schedule of an
    escalation policy that also pages this one (`others`). Their level would page them
    twice and nobody in the requester's place: one person fewer paged for that time."""
    assert request.taken_by is not None
    for schedule, overrides in others:
        on_call = shifts(schedule, overrides, request.start, request.end)
        if any(s.staff_id == request.taken_by for s in on_call):
            raise TakerOnCall(
                f"{request.taken_by} is already on call for some of it on schedule"
                f" {schedule.schedule_id} ({schedule.name}) of the same escalation policy: they"
                " would be paged twice and one person fewer paged. Another colleague may take it.",
                TAKER_ON_CALL_IN_POLICY,
                schedule.schedule_id,
            )


def check_taker_not_named_in_policy(
    request: SwapRequest, policies_levels: Sequence[Sequence[Collection[UUID]]]
) -> None:
    """At the take: the taker must not be named directly in a level (its `staff_ids`, one
    collection per level, in order) of an escalation policy that also pages this schedule: that
    level pages them anyway, so the policy would page them twice and nobody in the requester's
    place. Fallback staff are paged only once the chain is exhausted: they do not count."""
    assert request.taken_by is not None
    for levels in policies_levels:
        for number, staff_ids in enumerate(levels, start=1):
            if request.taken_by in staff_ids:
                raise TakerOnCall(
                    f"{request.taken_by} is paged at level {number} of an escalation policy that"
                    " also pages this schedule: they would be paged twice and one person fewer"
                    " paged. Another colleague may take it.",
                    TAKER_ON_CALL_IN_POLICY,
                    level=number,
                )


def decide_cancel(request: SwapRequest, now: datetime) -> SwapRequest:
    _open(request, now)
    return replace(request, status=SwapStatus.CANCELLED)


def decide_expire(request: SwapRequest, now: datetime) -> SwapRequest | None:
    """Expired once its start has come while still open; else nothing changes (None)."""
    if request.status is not SwapStatus.OPEN or now < request.start:
        return None
    return replace(request, status=SwapStatus.EXPIRED)


def _open(request: SwapRequest, now: datetime) -> None:
    if request.status is not SwapStatus.OPEN:
        raise SwapConflict(f"The swap request is {request.status.value}, no longer open.")
    if now >= request.start:
        raise SwapConflict("The swap request expired at its start; nobody took it in time.")
