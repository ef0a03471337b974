"""Sites, staff and rooms."""

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter

from booking.adapters import projections, queries
from booking.application import handlers
from booking.application.ports import require_site
from booking.domain import staff
from booking.domain.errors import UnknownAggregate
from booking.domain.room import RegisterRoom
from booking.domain.site import RegisterSite
from booking.domain.staff import RegisterStaffMember
from booking.entrypoints.http.deps import Live, execute
from booking.entrypoints.http.errors import BookingRoute
from booking.entrypoints.http.schemas import (
    RoomIn,
    RoomOut,
    SiteIn,
    SiteOut,
    StaffIn,
    StaffOut,
    StaffPatch,
)
from counseling_shared.codes import StaffRole
from counseling_shared.http.auth import Role
from counseling_shared.http.dependencies import Admin, Caller, Person
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, Page
from counseling_shared.http.problems import Problem

router = APIRouter(route_class=BookingRoute)


@router.post("/sites", status_code=201, tags=["sites"])
async def register_site(body: SiteIn, caller: Admin, runtime: Live) -> SiteOut:
    """Register a site (a key for every site only). Emits `SiteRegistered`."""
    if caller.site_ids is not None:
        raise Problem(
            403, "forbidden", "Forbidden", "Only an admin key for every site registers sites."
        )
    command = RegisterSite(
        name=body.name,
        timezone=body.timezone,
        locale=body.locale,
        late_cancellation_window=body.late_cancellation_window,
        booking_horizon_months=body.booking_horizon_months,
    )
    site = await execute(runtime, lambda uow: handlers.register_site(uow, command))
    return SiteOut.of(site)


@router.get("/sites", tags=["sites"], responses=PAGED)
async def list_sites(caller: Caller, runtime: Live, page: Page) -> list[SiteOut]:
    """In order of registration, a page at a time (`Link`/`Next-Cursor` when more follow)."""
    window = queries.Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        sites = await queries.list_sites(conn, caller.site_ids, window)
    return [SiteOut.of(s) for s in page.serve(sites, key=lambda s: (s.registered_at, s.id))]


@router.get("/sites/{site_id}", tags=["sites"], responses=problem_responses(404))
async def get_site(site_id: UUID, caller: Caller, runtime: Live) -> SiteOut:
    async with runtime.db().acquire() as conn:
        site = await projections.load_site(conn, site_id)
    if site is None:
        raise UnknownAggregate("site", site_id)
    require_site(caller, site.id)
    return SiteOut.of(site)


@router.post("/staff", status_code=201, tags=["staff"])
async def register_staff_member(body: StaffIn, caller: Caller, runtime: Live) -> StaffOut:
    """Register a staff member. Emits `StaffRegistered` (with contact details, for paging).
    An `integration` key registers counselors, supervisors and site leads, not `crisis_line`
    members (403): those are on call, so a person registers them."""
    if caller.role is Role.INTEGRATION and body.role is StaffRole.CRISIS_LINE:
        # Whoever registers an on-call member chooses where pages and their links go.
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            "Only a person (a staff or admin key) registers crisis_line members.",
        )
    command = RegisterStaffMember(
        site_id=body.site_id,
        name=body.name,
        role=body.role,
        email=body.email,
        phone=body.phone,
        locale=body.locale,
    )
    member = await execute(
        runtime, lambda uow: handlers.register_staff_member(uow, command, caller)
    )
    return StaffOut.of(member)


@router.get("/staff", tags=["staff"], responses=PAGED)
async def list_staff(
    caller: Caller,
    runtime: Live,
    page: Page,
    site_id: UUID | None = None,
    role: StaffRole | None = None,
) -> list[StaffOut]:
    """In order of registration, a page at a time (`Link`/`Next-Cursor` when more follow)."""
    window = queries.Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        members = await queries.list_staff(conn, site_id, caller.site_ids, window, role)
    return [StaffOut.of(m) for m in page.serve(members, key=lambda m: (m.registered_at, m.id))]


@router.get("/staff/{staff_id}", tags=["staff"], responses=problem_responses(404))
async def get_staff_member(staff_id: UUID, caller: Caller, runtime: Live) -> StaffOut:
    async with runtime.db().acquire() as conn:
        member = await projections.load_staff_member(conn, staff_id)
    if member is None:
        raise UnknownAggregate("staff member", staff_id)
    require_site(caller, member.site_id)
    return StaffOut.of(member)


@router.patch(
    "/staff/{staff_id}",
    tags=["staff"],
    responses=problem_responses(
        404, s409="The staff member is deactivated: their details are not changed."
    ),
)
async def change_staff_contact(
    staff_id: UUID, body: StaffPatch, caller: Person, runtime: Live
) -> StaffOut:
    """Change a staff member's name, email, phone (null removes it) or locale: only the
    fields sent, checked as on registration. Emits `StaffRegistered` again with the whole
    current snapshot, so notify pages the new number and crisis re-digests it. People only:
    a `staff` key changes its own record, an `admin` key anyone's at its sites; an
    `integration` key gets a 403 (the member's pages would follow the new details, and an SMS
    `ACK` from the new number would act as them). An extension beyond the contract."""
    if caller.role is Role.STAFF and caller.staff_id != staff_id:
        raise Problem(
            403, "forbidden", "Forbidden", "A staff key changes only its own staff member."
        )
    given = frozenset(body.model_fields_set & staff.CHANGEABLE)
    command = staff.ChangeStaffContact(given=given, **body.model_dump(include=set(given)))
    member = await execute(
        runtime, lambda uow: handlers.change_staff_contact(uow, staff_id, command, caller)
    )
    return StaffOut.of(member)


@router.post("/staff/{staff_id}/deactivate", tags=["staff"], responses=problem_responses(404))
async def deactivate_staff_member(staff_id: UUID, caller: Admin, runtime: Live) -> StaffOut:
    """The member left: they stay on record but are never booked or paged again. Emits
    `StaffDeactivated` (once; deactivating again changes nothing)."""
    member = await execute(
        runtime, lambda uow: handlers.deactivate_staff_member(uow, staff_id, caller)
    )
    return StaffOut.of(member)


@router.post("/rooms", status_code=201, tags=["rooms"])
async def register_room(body: RoomIn, caller: Caller, runtime: Live) -> RoomOut:
    command = RegisterRoom(site_id=body.site_id, name=body.name)
    room = await execute(runtime, lambda uow: handlers.register_room(uow, command, caller))
    return RoomOut.of(room)


@router.get("/rooms", tags=["rooms"], responses=PAGED)
async def list_rooms(
    caller: Caller, runtime: Live, page: Page, site_id: UUID | None = None
) -> list[RoomOut]:
    """In order of registration, a page at a time (`Link`/`Next-Cursor` when more follow)."""
    window = queries.Window(page.fetch, page.after(datetime, UUID))
    async with runtime.db().acquire() as conn:
        rooms = await queries.list_rooms(conn, site_id, caller.site_ids, window)
    return [RoomOut.of(r) for r in page.serve(rooms, key=lambda r: (r.registered_at, r.id))]


@router.get("/rooms/{room_id}", tags=["rooms"], responses=problem_responses(404))
async def get_room(room_id: UUID, caller: Caller, runtime: Live) -> RoomOut:
    async with runtime.db().acquire() as conn:
        room = await projections.load_room(conn, room_id)
    if room is None:
        raise UnknownAggregate("room", room_id)
    require_site(caller, room.site_id)
    return RoomOut.of(room)
