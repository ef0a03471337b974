"""A site's closures (public holidays, training days, a move): an extension of the contract."""

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from booking.adapters import closures_store, projections
from booking.application import closures as closures_app
from booking.domain.errors import InvalidCommand, UnknownAggregate
from booking.domain.scheduling.closures import (
    MAX_CLOSURES,
    MAX_LABEL_LENGTH,
    Closure,
    ClosureKind,
    SetSiteClosures,
    SiteClosures,
)
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from counseling_shared.http.auth import Principal, Role
from counseling_shared.http.bodies import CalendarDate, RequestBody
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.problems import Problem

router = APIRouter(route_class=BookingRoute, tags=["scheduling"])

ALLOW_CLOSED_SITE = (
    "An `admin` books on a day the site is closed anyway (a crisis session on a holiday, "
    "say); the audit entry's action then ends in `:allow_closed_site`. Other keys: 403."
)


def closed_site_override(asked: bool, caller: Principal) -> bool:
    """`allow_closed_site` as asked, for an admin key only (anyone else asking: 403)."""
    if asked and caller.role is not Role.ADMIN:
        raise Problem(
            403, "forbidden", "Forbidden", "Only an admin key books on a day the site is closed."
        )
    return asked


class ClosureIn(RequestBody):
    from_: CalendarDate = Field(alias="from", description="First closed date (site's zone).")
    to: CalendarDate = Field(description="Last closed date, included (equal for one day).")
    kind: ClosureKind
    label: str | None = Field(
        None,
        max_length=MAX_LABEL_LENGTH,
        description="A short name for the site's day, e.g. `New Year`; never about a client. "
        "Not published on the bus.",
    )


class ClosuresIn(RequestBody):
    closures: list[ClosureIn] = Field(
        max_length=MAX_CLOSURES,
        description="The site's whole list (it replaces the one stored); entries must not "
        "overlap, and end at most 10 years ahead (the longest booking horizon).",
    )

    def command(self) -> SetSiteClosures:
        return SetSiteClosures(
            tuple(Closure(c.from_, c.to, c.kind, c.label) for c in self.closures)
        )


class ClosureOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    kind: ClosureKind
    label: str | None

    @classmethod
    def of(cls, closure: Closure) -> "ClosureOut":
        return cls(from_=closure.first, to=closure.last, kind=closure.kind, label=closure.label)


class SiteClosuresOut(BaseModel):
    site_id: UUID
    closures: list[ClosureOut] = Field(description="In order of their first date.")
    set_at: datetime | None = Field(description="When the list was last replaced (null: never).")
    version: int = Field(description="How many times the list was replaced.")

    @classmethod
    def of(
        cls, site_id: UUID, found: SiteClosures | None, listed: list[Closure]
    ) -> "SiteClosuresOut":
        return cls(
            site_id=site_id,
            closures=[ClosureOut.of(c) for c in listed],
            set_at=found.set_at if found else None,
            version=found.version if found else 0,
        )


class ClosuresSavedOut(SiteClosuresOut):
    affected_appointment_ids: list[UUID] = Field(
        description="Booked sessions already on the closed days, by start. They stay booked: "
        "the center decides whether to move or cancel them."
    )
    affected_group_session_ids: list[UUID] = Field(
        description="Booked group sessions already on the closed days, by start, whether "
        "anyone is seated or not (each seat is also in `affected_appointment_ids`). They stay "
        "booked too. Extension."
    )


@router.put(
    "/sites/{site_id}/closures",
    responses=problem_responses(404),
)
async def set_site_closures(
    site_id: UUID, body: ClosuresIn, caller: Person, runtime: Live
) -> ClosuresSavedOut:
    """Replace the site's closures (dates in the site's zone; a closed date is its whole
    local day). No session is offered or booked on them afterwards; the answer names the
    booked sessions and group sessions already on them (`affected_appointment_ids`,
    `affected_group_session_ids`), which are not cancelled.
    An `admin` key, or the `staff` key of a `site_lead` of the site; integrations get a 403.
    Emits `SiteClosuresChanged`. An extension beyond the contract."""
    command = body.command()
    acting = caller.staff_id if caller.role is Role.STAFF else None
    saved = await execute(
        runtime,
        lambda uow: closures_app.set_site_closures(uow, site_id, command, caller, acting),
    )
    stored = saved.closures
    listed = SiteClosuresOut.of(site_id, stored, list(stored.closures))
    return ClosuresSavedOut(
        **dict(listed),
        affected_appointment_ids=saved.affected_appointment_ids,
        affected_group_session_ids=saved.affected_group_session_ids,
    )


@router.get("/sites/{site_id}/closures", responses=problem_responses(404))
async def get_site_closures(
    site_id: UUID,
    caller: Caller,
    runtime: Live,
    from_: Annotated[
        CalendarDate | None, Query(alias="from", description="Closures ending on or after it.")
    ] = None,
    to: Annotated[
        CalendarDate | None, Query(description="Closures starting on or before it.")
    ] = None,
) -> SiteClosuresOut:
    """The site's closures overlapping `[from, to]` (dates in the site's zone; both optional),
    in order. An extension beyond the contract."""
    caller.require_site(site_id)
    if from_ is not None and to is not None and to < from_:
        raise InvalidCommand({"to": "must not be before `from`"})
    async with runtime.db().acquire() as conn:
        at_site = await projections.load_site(conn, site_id)
        found = await closures_store.load_closures(conn, site_id)
    if at_site is None:
        raise UnknownAggregate("site", site_id)
    listed = [
        c
        for c in (found.closures if found else ())
        if (from_ is None or c.last >= from_) and (to is None or c.first <= to)
    ]
    return SiteClosuresOut.of(site_id, found, listed)
