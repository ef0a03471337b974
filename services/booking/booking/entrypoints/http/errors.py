"""Domain refusals → RFC 9457 problems, for every route of booking's routers."""

from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

from fastapi import Request, Response

from booking.application.ports import AccessDenied, PeopleOnly
from booking.domain.errors import InvalidCommand, NotAllowedNow, SlotTaken, UnknownAggregate
from booking.domain.expected_fee import FeeChanged
from booking.domain.group_series import SeriesSeatConflicts
from booking.domain.group_session import CapacityBelowTaken, GroupConflicts, GroupFull, SeatsFree
from booking.domain.scheduling.closures import SiteClosed
from booking.domain.scheduling.series import SeriesConflicts
from counseling_shared.http.idempotency import KeyCheckedInTransaction
from counseling_shared.http.problems import Conflict, NotFound, Problem, Unprocessable


def as_problem(exc: Exception) -> Problem | None:
    match exc:
        case InvalidCommand():
            errors = [{"field": field, "message": msg} for field, msg in exc.errors.items()]
            return Unprocessable(str(exc), errors=errors)
        case UnknownAggregate():
            return NotFound(exc.kind, exc.ident)
        case SlotTaken() if exc.conflicting_hold_id is not None:
            return Conflict(
                f"{exc}: hold {exc.conflicting_hold_id}",
                conflicting_appointment_id=None,
                conflicting_hold_id=str(exc.conflicting_hold_id),
                conflicting_resource=exc.resource,
            )
        case SlotTaken() if exc.conflicting_group_session_id is not None:
            return Conflict(
                f"{exc}: group session {exc.conflicting_group_session_id}",
                conflicting_appointment_id=None,
                conflicting_group_session_id=str(exc.conflicting_group_session_id),
                conflicting_resource=exc.resource,
            )
        case SlotTaken():
            holder = exc.conflicting_appointment_id
            return Conflict(
                f"{exc}: appointment {holder}",
                conflicting_appointment_id=str(holder) if holder else None,
                conflicting_resource=exc.resource,
            )
        case SeriesConflicts():
            return Conflict(
                str(exc),
                conflicts=[
                    {
                        "start": c.start.isoformat(),
                        "conflicting_appointment_id": str(c.conflicting_appointment_id)
                        if c.conflicting_appointment_id
                        else None,
                        "conflicting_hold_id": str(c.conflicting_hold_id)
                        if c.conflicting_hold_id
                        else None,
                        "conflicting_resource": c.resource,
                        "reason": c.reason,
                        **(
                            {
                                "closed_on": c.closed_on.isoformat(),
                                "closure_kind": c.closure_kind,
                            }
                            if c.closed_on
                            else {}
                        ),
                        **(
                            {"conflicting_group_session_id": str(c.conflicting_group_session_id)}
                            if c.conflicting_group_session_id
                            else {}
                        ),
                    }
                    for c in exc.conflicts
                ],
            )
        case SeriesSeatConflicts():
            return Conflict(
                str(exc),
                conflicts=[
                    {
                        "group_session_id": str(c.group_session_id),
                        "start": c.start.isoformat(),
                        "reason": c.reason,
                        "conflicting_appointment_id": _text(c.conflicting_appointment_id),
                        "conflicting_hold_id": _text(c.conflicting_hold_id),
                        "conflicting_group_session_id": _text(c.conflicting_group_session_id),
                        **(
                            {
                                "closed_on": c.closed_on.isoformat(),
                                "closure_kind": c.closure_kind,
                            }
                            if c.closed_on
                            else {}
                        ),
                    }
                    for c in exc.conflicts
                ],
            )
        case SiteClosed():
            return Problem(
                409,
                "site-closed",
                "The site is closed that day",
                f"{exc}: book another day (an admin may book anyway with "
                "`allow_closed_site: true`).",
                closed_on=exc.closed.day.isoformat(),
                closure_kind=exc.closed.closure.kind.value,
                closure_from=exc.closed.closure.first.isoformat(),
                closure_to=exc.closed.closure.last.isoformat(),
            )
        case GroupConflicts():
            return Conflict(
                str(exc),
                conflicts=[
                    {
                        "conflicting_resource": c.resource,
                        "client_id": _text(c.client_id),
                        "conflicting_appointment_id": _text(c.conflicting_appointment_id),
                        "conflicting_hold_id": _text(c.conflicting_hold_id),
                        "conflicting_group_session_id": _text(c.conflicting_group_session_id),
                    }
                    for c in exc.conflicts
                ],
            )
        case GroupFull():
            return Problem(409, "group_full", "Group session full", str(exc))
        case SeatsFree():
            return Problem(409, "seats_free", "A seat is free", str(exc))
        case CapacityBelowTaken():
            return Problem(
                409,
                "capacity_below_seated",
                "Capacity below the seats taken",
                str(exc),
                seated=exc.seated,
                held=exc.held,
            )
        case NotAllowedNow():
            return Conflict(str(exc))
        case FeeChanged():
            fee = exc.fee
            return Problem(
                409,
                "fee-changed",
                "Fee changed",
                str(exc),
                fee_due={"amount": str(fee.amount), "currency": fee.currency} if fee else None,
            )
        case PeopleOnly():
            return Problem(403, "forbidden", "Forbidden", str(exc))
        case AccessDenied():
            return Problem(
                403, "forbidden", "Forbidden", "This API key has no access to that site."
            )
    return None


def _text(ident: UUID | None) -> str | None:
    return str(ident) if ident else None


class BookingRoute(KeyCheckedInTransaction):
    """Routes whose domain errors become problem+json answers. Each command runs whole in its
    unit of work (`run_command`), so an `Idempotency-Key` is looked up there, under its lock."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:
                problem = as_problem(exc)
                if problem is None:
                    raise
                raise problem from None

        return answer
