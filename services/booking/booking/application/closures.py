"""A site's closures: replacing the list, and the checks every booking path makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID
from zoneinfo import ZoneInfo

from booking.adapters import closures_store, projections
from booking.application.ports import SiteAccess, SiteLeadsOnly, require_site
from booking.application.recording import record, stream_id
from booking.domain.errors import UnknownAggregate
from booking.domain.scheduling import closures
from booking.domain.scheduling.closures import ClosedDay, SiteClosures
from counseling_shared import audit
from counseling_shared import events as public
from counseling_shared.codes import StaffRole
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# Added to the audit entry's action when an admin books on a closed day on purpose.
OVERRIDE_NOTE = "allow_closed_site"


@dataclass(frozen=True)
class ClosuresSaved:
    closures: SiteClosures
    affected_appointment_ids: list[UUID]
    affected_group_session_ids: list[UUID]


def closures_events(
    state: SiteClosures, event: closures.ClosuresEvent
) -> list[public.IntegrationEvent]:
    # Dates and codes only: a label is about the site, but the bus stays minimal.
    spans = [public.ClosedSpan(from_=c.first, to=c.last, kind=c.kind.value) for c in state.closures]
    return [public.SiteClosuresChanged(site_id=state.site_id, closures=spans)]


async def set_site_closures(
    uow: UnitOfWork,
    site_id: UUID,
    command: closures.SetSiteClosures,
    access: SiteAccess,
    acting_staff_id: UUID | None,
) -> ClosuresSaved:
    """Replace the site's closures; name the booked sessions and group sessions already on
    the closed days (they stay booked: the center decides what becomes of them).
    `acting_staff_id`: a staff key's member, who must lead that site (an admin key: None)."""
    require_site(access, site_id)
    at_site = await projections.load_site(uow.conn, site_id)
    if at_site is None:
        raise UnknownAggregate("site", site_id)
    if acting_staff_id is not None:
        member = await projections.load_staff_member(uow.conn, acting_staff_id)
        if member is None or member.site_id != site_id or member.role is not StaffRole.SITE_LEAD:
            raise SiteLeadsOnly("Only an admin or a site lead of this site changes its closures.")
    current = await closures_store.load_closures(uow.conn, site_id)
    events = closures.set_closures(at_site, command, uow.now())
    state = await record(
        uow,
        stream_id("siteclosures", site_id),
        current,
        current.version if current else 0,
        events,
        closures.evolve,
        closures_events,
        site_id,
    )
    await closures_store.save_closures(uow.conn, state)
    zone = ZoneInfo(at_site.timezone)
    affected = await closures_store.booked_on_closed_days(uow.conn, site_id, zone, state.closures)
    groups = await closures_store.groups_on_closed_days(uow.conn, site_id, zone, state.closures)
    return ClosuresSaved(state, affected, groups)


async def check_open(
    conn: Connection,
    site_id: UUID,
    start: datetime,
    end: datetime,
    *,
    allow_closed_site: bool = False,
) -> ClosedDay | None:
    """Refuse (`SiteClosed`) a session on a closed day of its site, unless an admin allowed
    it, which the request's audit entry then says (and the closed day overridden is
    returned)."""
    at_site = await projections.load_site(conn, site_id)
    if at_site is None:
        return None  # the booking's own checks name the unknown site's parts
    found = await closures_store.closures_of_site(conn, site_id)
    return check_open_with(found, ZoneInfo(at_site.timezone), start, end, allow_closed_site)


def check_open_with(
    found: tuple[closures.Closure, ...],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    allow_closed_site: bool,
) -> ClosedDay | None:
    """`check_open` with the site's closures and zone already read."""
    overridden = closures.refuse_closed(found, zone, start, end, allowed=allow_closed_site)
    if overridden is not None:
        audit.note_action(OVERRIDE_NOTE)
    return overridden
