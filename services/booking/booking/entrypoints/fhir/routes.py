"""FHIR R4 read routes (`application/fhir+json`): Appointment, Slot and Schedule.

Searches answer `searchset` Bundles a page at a time (`limit`, 50 by default; the Bundle's
`next` link carries the cursor). Errors stay RFC 9457 problems, as everywhere in the suite.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from booking.adapters import fhir_queries, projections
from booking.adapters.fhir_queries import StartRange
from booking.adapters.queries import Window
from booking.application import scheduling
from booking.domain.errors import UnknownAggregate
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.slots import DEFAULT_SESSION_MINUTES
from booking.entrypoints.fhir import resources
from booking.entrypoints.fhir.search import reference_ids, start_range
from booking.entrypoints.http.deps import Live
from booking.entrypoints.http.errors import BookingRoute
from counseling_shared import audit
from counseling_shared.codes import Modality
from counseling_shared.http.auth import Principal
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import (
    NEXT_CURSOR_HEADER,
    CursorValue,
    Page,
    PageRequest,
    encode_cursor,
)
from counseling_shared.http.problems import Unprocessable

if TYPE_CHECKING:
    from counseling_shared.db import Connection

router = APIRouter(route_class=BookingRoute, prefix="/fhir", tags=["fhir"])

T = TypeVar("T")


class FhirJSONResponse(JSONResponse):
    media_type = resources.FHIR_JSON


def _fhir(resource_type: str, search: bool) -> dict[int | str, dict[str, Any]]:
    document = "Bundle" if search else resource_type
    what = f"a `searchset` Bundle of {resource_type}" if search else f"the {resource_type}"
    schema = {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "enum": [document]}},
        "additionalProperties": True,
    }
    return {
        200: {
            "description": f"FHIR R4 {what}.",
            "content": {resources.FHIR_JSON: {"schema": schema}},
        }
    }


def _bundle(
    request: Request,
    page: PageRequest,
    rows: Sequence[T],
    key: Callable[[T], Sequence[CursorValue]],
    to_resource: Callable[[T], dict[str, Any]],
) -> FhirJSONResponse:
    """The page as a searchset Bundle; its `next` link (and the `Link`/`Next-Cursor` headers,
    as on every list) when more follow."""
    served = list(rows[: page.limit])
    more = len(rows) > page.limit
    cursor = encode_cursor(key(served[-1])) if more and served else None
    base = str(request.base_url).rstrip("/")
    next_path = None
    if cursor is not None:
        url = request.url.include_query_params(cursor=cursor, limit=page.limit)
        next_path = f"{url.path}?{url.query}"
    first_and_only = cursor is None and "cursor" not in request.query_params
    body = resources.searchset(
        [to_resource(r) for r in served],
        base,
        str(request.url),
        f"{base}{next_path}" if next_path else None,
        len(served) if first_and_only else None,
    )
    response = FhirJSONResponse(body)
    if cursor is not None:
        response.headers["Link"] = f'<{next_path}>; rel="next"'
        response.headers[NEXT_CURSOR_HEADER] = cursor
    return response


@router.get(
    "/Appointment/{appointment_id}",
    response_class=FhirJSONResponse,
    responses={**_fhir("Appointment", search=False), **problem_responses(404)},
)
async def read_appointment(appointment_id: UUID, caller: Caller, runtime: Live) -> FhirJSONResponse:
    """One appointment as a FHIR R4 Appointment."""
    async with runtime.db().acquire() as conn:
        found = await projections.load_appointment(conn, appointment_id)
    if found is None:
        raise UnknownAggregate("appointment", appointment_id)
    caller.require_site(found.site_id)
    audit.note_client(found.client_id)
    return FhirJSONResponse(resources.appointment(found))


@router.get(
    "/Appointment",
    response_class=FhirJSONResponse,
    responses=_fhir("Appointment", search=True),
)
async def search_appointments(
    request: Request,
    caller: Caller,
    runtime: Live,
    page: Page,
    patient: Annotated[
        list[str] | None, Query(description="`Patient/{client_id}` (or the bare id).")
    ] = None,
    practitioner: Annotated[
        list[str] | None, Query(description="`Practitioner/{staff_id}` (or the bare id).")
    ] = None,
    date: Annotated[
        list[str] | None,
        Query(description="On the start, with a prefix: `ge2030-03-01`, `lt2030-03-08`."),
    ] = None,
) -> FhirJSONResponse:
    """Appointments by patient, practitioner and start, ordered by start."""
    clients = reference_ids(patient, "Patient", "patient")
    counselors = reference_ids(practitioner, "Practitioner", "practitioner")
    starts = start_range(date, "date")
    if clients and len(clients) == 1:
        audit.note_client(clients[0])
    async with runtime.db().acquire() as conn:
        found = await fhir_queries.appointments_by_start(
            conn,
            client_ids=clients,
            counselor_ids=counselors,
            starts=starts,
            visible_sites=caller.site_ids,
            window=Window(page.fetch, page.after(datetime, UUID)),
        )
    if len(sites := {a.site_id for a in found}) == 1:  # one client's: the trail names its site
        audit.note_site(sites.pop())
    return _bundle(request, page, found, lambda a: (a.start, a.id), resources.appointment)


@dataclass(frozen=True)
class _SlotEntry:
    start: datetime
    id: UUID
    resource: dict[str, Any]


SLOT_STATUSES = ("busy", "free")
FREE_SLOT_MINUTES = DEFAULT_SESSION_MINUTES
MAX_FREE_SCHEDULES = 20  # each is its own calendar to compute


@router.get("/Slot", response_class=FhirJSONResponse, responses=_fhir("Slot", search=True))
async def search_slots(
    request: Request,
    caller: Caller,
    runtime: Live,
    page: Page,
    schedule: Annotated[
        list[str] | None, Query(description="`Schedule/{staff_id}` (or the bare id).")
    ] = None,
    start: Annotated[
        list[str] | None,
        Query(description="With a prefix: `ge2030-03-01`, `lt2030-03-08T00:00:00Z`."),
    ] = None,
    status: Annotated[
        list[str] | None,
        Query(
            description="`busy` (the default), `free`, or both (`free,busy`). Free slots need"
            " `schedule` (at most 20) and a `start` range with both ends (`ge…` and `lt…`) of"
            f" at most {scheduling.MAX_AVAILABILITY_DAYS} days."
        ),
    ] = None,
) -> FhirJSONResponse:
    """Slots of counselors' schedules, ordered by start. `busy`: one per session not
    cancelled, with the appointment's id. `free`: the counselor's bookable time, cut into
    slots of the default session length (50 minutes) from the start of each working period,
    exactly as `GET /availability` finds it (online sessions: no room needed), with an id
    derived from the counselor and the time."""
    statuses = _slot_statuses(status)
    counselors = reference_ids(schedule, "Schedule", "schedule")
    starts = start_range(start, "start")
    after = page.after(datetime, UUID)
    entries: list[_SlotEntry] = []
    async with runtime.db().acquire() as conn:
        if "busy" in statuses:
            busy = await fhir_queries.appointments_by_start(
                conn,
                client_ids=None,
                counselor_ids=counselors,
                starts=starts,
                visible_sites=caller.site_ids,
                window=Window(page.fetch, after),
                exclude_cancelled=True,
            )
            entries += [_SlotEntry(a.start, a.id, resources.slot(a)) for a in busy]
        if "free" in statuses:
            free = await _free_slots(conn, caller, counselors, starts, runtime.clock.now())
            entries += [
                _SlotEntry(f.start, resources.free_slot_id(f), resources.free_slot(f)) for f in free
            ]
    entries.sort(key=lambda e: (e.start, e.id))
    if after is not None:
        entries = [e for e in entries if (e.start, e.id) > after]
    return _bundle(request, page, entries, lambda e: (e.start, e.id), lambda e: e.resource)


def _slot_statuses(values: list[str] | None) -> set[str]:
    statuses = {part.strip() for value in values or ["busy"] for part in value.split(",")}
    if unknown := statuses - set(SLOT_STATUSES):
        message = f"unknown Slot status {sorted(unknown)!r}: expected busy, free or both"
        raise Unprocessable(message, [{"field": "status", "message": message}])
    return statuses


async def _free_slots(
    conn: "Connection",
    caller: Principal,
    counselors: list[UUID] | None,
    starts: StartRange,
    now: datetime,
) -> list[FreeSlot]:
    """Each named counselor's free time in the range (counselors of sites the caller cannot
    see are left out, as their busy slots are)."""
    begin, end = starts.start_from, starts.start_before
    longest = timedelta(days=scheduling.MAX_AVAILABILITY_DAYS)
    if not counselors or begin is None or end is None or end - begin > longest:
        message = (
            "free slots need `schedule` and a `start` range with both ends (e.g. `ge2030-03-01`"
            f" and `lt2030-03-08`) of at most {scheduling.MAX_AVAILABILITY_DAYS} days"
        )
        raise Unprocessable(message, [{"field": "status", "message": message}])
    if len(set(counselors)) > MAX_FREE_SCHEDULES:
        message = f"free slots of at most {MAX_FREE_SCHEDULES} schedules at a time"
        raise Unprocessable(message, [{"field": "schedule", "message": message}])
    found: list[FreeSlot] = []
    for counselor_id in dict.fromkeys(counselors):
        member = await projections.load_staff_member(conn, counselor_id)
        if member is None or not caller.can_access(member.site_id):
            continue
        found += await scheduling.availability(
            conn,
            member.site_id,
            counselor_id,
            begin,
            end,
            timedelta(minutes=FREE_SLOT_MINUTES),
            Modality.ONLINE,
            now,
        )
    return found


@router.get("/Schedule", response_class=FhirJSONResponse, responses=_fhir("Schedule", search=True))
async def search_schedules(
    request: Request,
    caller: Caller,
    runtime: Live,
    page: Page,
    actor: Annotated[
        list[str] | None, Query(description="`Practitioner/{staff_id}` (or the bare id).")
    ] = None,
) -> FhirJSONResponse:
    """One Schedule per staff member who holds sessions (its id is the staff member's)."""
    staff_ids = reference_ids(actor, "Practitioner", "actor")
    async with runtime.db().acquire() as conn:
        found = await fhir_queries.session_holders(
            conn,
            staff_ids=staff_ids,
            visible_sites=caller.site_ids,
            window=Window(page.fetch, page.after(datetime, UUID)),
        )
    return _bundle(request, page, found, lambda m: (m.registered_at, m.id), resources.schedule)
