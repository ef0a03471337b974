"""FHIR R4 read routes (`application/fhir+json`): Appointment, Slot and Schedule.

Searches answer `searchset` Bundles a page at a time (`limit`, 50 by default; the Bundle's
`next` link carries the cursor). Errors stay RFC 9457 problems, as everywhere in the suite.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from booking.adapters import fhir_queries, projections
from booking.adapters.queries import Window
from booking.domain.errors import UnknownAggregate
from booking.entrypoints.fhir import resources
from booking.entrypoints.fhir.search import reference_ids, start_range
from booking.entrypoints.http.deps import Live
from booking.entrypoints.http.errors import BookingRoute
from counseling_shared import audit
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import (
    NEXT_CURSOR_HEADER,
    CursorValue,
    Page,
    PageRequest,
    encode_cursor,
)

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
) -> FhirJSONResponse:
    """The busy slots of counselors' schedules: one per session not cancelled. Free slots are
    not listed yet: `GET /availability` serves them, not yet as FHIR Slots."""
    counselors = reference_ids(schedule, "Schedule", "schedule")
    async with runtime.db().acquire() as conn:
        found = await fhir_queries.appointments_by_start(
            conn,
            client_ids=None,
            counselor_ids=counselors,
            starts=start_range(start, "start"),
            visible_sites=caller.site_ids,
            window=Window(page.fetch, page.after(datetime, UUID)),
            exclude_cancelled=True,
        )
    return _bundle(request, page, found, lambda a: (a.start, a.id), resources.slot)


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
