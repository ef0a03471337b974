"""A counselor's calendar feed: a signed, revocable link, and the feed it opens."""

from datetime import datetime, timedelta
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from booking.adapters import calendar_feed, calendar_store, projections
from booking.domain.errors import UnknownAggregate
from booking.domain.staff import StaffMember
from booking.entrypoints.http.deps import Live
from booking.entrypoints.http.errors import BookingRoute
from booking.settings import BookingSettings
from counseling_shared import audit
from counseling_shared.http.auth import Principal, Role
from counseling_shared.http.dependencies import Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.private_pages import PRIVATE_FEED_HEADERS
from counseling_shared.http.problems import Problem
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import audited_transaction

router = APIRouter(route_class=BookingRoute, tags=["calendar"])

CALENDAR_PURPOSE = "booking-staff-calendar"
FEED_AHEAD = timedelta(days=365)
FEED_BEHIND = timedelta(days=30)
CANCELLED_KEPT = timedelta(days=30)
"""A cancelled session stays in the feed (as cancelled) this long after its cancellation."""


class CalendarUrlOut(BaseModel):
    url: str = Field(description="The feed, with its signed token: subscribe a calendar app.")
    expires_at: datetime


def _settings(runtime: Runtime) -> BookingSettings:
    settings = runtime.settings
    assert isinstance(settings, BookingSettings)
    return settings


async def _own_or_admin(runtime: Runtime, caller: Principal, staff_id: UUID) -> StaffMember:
    """The staff member, when the caller is that staff member or an admin of their site."""
    async with runtime.db().acquire() as conn:
        member = await projections.load_staff_member(conn, staff_id)
    if member is None:
        raise UnknownAggregate("staff member", staff_id)
    caller.require_site(member.site_id)
    if caller.role is not Role.ADMIN and caller.staff_id != staff_id:
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            "A calendar link is issued to the staff member it shows, or to an admin.",
        )
    return member


@router.get(
    "/staff/{staff_id}/calendar-url",
    responses=problem_responses(404),
)
async def get_calendar_url(staff_id: UUID, caller: Person, runtime: Live) -> CalendarUrlOut:
    """A new signed link to the staff member's sessions feed, for the staff member (their own
    `staff` key) or an admin. Each link is recorded and can be revoked."""
    await _own_or_admin(runtime, caller, staff_id)
    settings = _settings(runtime)
    now = runtime.clock.now()
    expires_at = now + settings.calendar_link_ttl
    signer = runtime.settings.link_signer()
    token = signer.sign(
        CALENDAR_PURPOSE, str(staff_id), expires_at=expires_at, person=caller.actor.id
    )
    link = signer.verify(token, CALENDAR_PURPOSE, now=now)
    async with runtime.db().acquire() as conn:
        await calendar_store.record_link(
            conn,
            link_id=link.link_id,
            staff_id=staff_id,
            issued_by=f"{caller.actor.kind}:{caller.actor.id}",
            issued_at=now,
            expires_at=link.expires_at,
        )
    base = settings.booking_base_url.rstrip("/")
    return CalendarUrlOut(
        url=f"{base}/staff/{staff_id}/calendar.ics?token={token}", expires_at=link.expires_at
    )


@router.delete(
    "/staff/{staff_id}/calendar-links",
    status_code=204,
    responses=problem_responses(404),
)
async def revoke_calendar_links(staff_id: UUID, caller: Person, runtime: Live) -> Response:
    """Revoke every calendar link issued for the staff member: their feeds answer 403."""
    await _own_or_admin(runtime, caller, staff_id)
    async with runtime.db().acquire() as conn, audited_transaction(conn):
        await calendar_store.revoke_links(conn, staff_id, runtime.clock.now())
    return Response(status_code=204)


@router.get(
    "/staff/{staff_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **problem_responses(403, 404, 410)},
    openapi_extra={"security": []},  # the signed token is the credential
)
async def get_calendar(staff_id: UUID, token: str, runtime: Live) -> Response:
    """The staff member's sessions from 30 days back to a year ahead (RFC 5545), without
    client names; a session cancelled in the last 30 days shows as `STATUS:CANCELLED`. The
    signed token is the credential: 403 when altered, revoked, for someone else (expired or
    not) or for a deactivated staff member, 410 when this feed's own link expired."""
    now = runtime.clock.now()
    try:
        link = runtime.settings.link_signer().verify(token, CALENDAR_PURPOSE, now=now)
    except LinkExpired as exc:
        if exc.link.subject != str(staff_id):  # another's: told nothing, as an altered link
            raise _bad_link() from None
        raise Problem(410, "link-expired", "Gone", "This calendar link has expired.") from None
    except LinkTampered:
        raise _bad_link() from None
    if link.subject != str(staff_id):
        raise _bad_link()
    async with runtime.db().acquire() as conn:
        if not await calendar_store.link_is_live(conn, link.link_id, staff_id):
            raise _bad_link()
        member = await projections.load_staff_member(conn, staff_id)
        if member is None:
            raise UnknownAggregate("staff member", staff_id)
        if member.deactivated_at is not None:  # someone who has left takes no feed along
            raise _bad_link()
        audit.note_actor(audit.Actor("link", str(link.link_id)), sees_free_text=False)
        audit.note_site(member.site_id)
        found = await calendar_store.sessions(
            conn,
            staff_id,
            ending_after=now - FEED_BEHIND,
            starting_before=now + FEED_AHEAD,
            cancelled_since=now - CANCELLED_KEPT,
        )
    body = calendar_feed.calendar_feed(staff_id, found, now)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=PRIVATE_FEED_HEADERS)


def _bad_link() -> Problem:
    return Problem(403, "link-invalid", "Forbidden", "This link is not valid.")
