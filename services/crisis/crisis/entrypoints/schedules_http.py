"""HTTP routes of on-call schedules: thin — parse, authorise, hand to the application."""

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response

from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.http.bodies import Instant
from counseling_shared.http.dependencies import Caller, Person
from counseling_shared.http.idempotency import REPLAYED, ReplayOnly
from counseling_shared.http.openapi import problem_responses
from counseling_shared.http.pagination import PAGED, CursorValue, Page
from counseling_shared.http.private_pages import PRIVATE_FEED_HEADERS
from counseling_shared.http.problems import Conflict, NotFound, Problem, Unprocessable
from counseling_shared.links import LinkExpired, LinkTampered
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.unit_of_work import unit_of_work
from crisis.adapters import ical, schedules
from crisis.adapters.schedule_codec import layers_json, running_json
from crisis.adapters.schedules import StoredSchedule
from crisis.application import policies as policy_commands
from crisis.application import schedules as schedule_commands
from crisis.application.schedules import AddedOverride, ScheduleNotFound, added_override
from crisis.domain.durations import parse_duration
from crisis.domain.schedules.aggregate import SiteMismatch, UnknownOverride
from crisis.domain.schedules.edits import ApplyFrom
from crisis.domain.schedules.oncall import Shift, on_call, shifts
from crisis.domain.schedules.overrides import InvalidOverride, Override
from crisis.domain.schedules.schedule import (
    InvalidSchedule,
    LayerDraft,
    RestrictionDraft,
)
from crisis.entrypoints.calendar_words import feed_words
from crisis.entrypoints.page_i18n import translator
from crisis.entrypoints.schedule_schemas import (
    CalendarUrlOut,
    OnCallOut,
    OverrideAccepted,
    OverrideBody,
    OverrideOut,
    ScheduleBody,
    ScheduleEdit,
    ScheduleOut,
    ShiftOut,
)
from crisis.settings import CrisisSettings

router = APIRouter(tags=["schedules"])

CALENDAR_PURPOSE = "crisis-schedule-calendar"
CALENDAR_DAYS = 90
MAX_SHIFTS_SPAN = timedelta(days=92)


def _settings(runtime: Runtime) -> CrisisSettings:
    settings = runtime.settings
    assert isinstance(settings, CrisisSettings)
    return settings


def _drafts(body: ScheduleBody) -> list[LayerDraft]:
    return [
        LayerDraft(
            kind=layer.rotation.kind.value,
            handoff=layer.rotation.handoff,
            start_on=layer.rotation.start_on,
            participants=layer.participants,
            every=layer.rotation.every,
            handoff_weekday=layer.rotation.handoff_weekday,
            restrictions=[
                RestrictionDraft(r.weekdays, r.from_, r.to, r.days.value)
                for r in layer.restrictions
            ],
        )
        for layer in body.layers
    ]


def _out(stored: StoredSchedule, now: datetime) -> ScheduleOut:
    schedule = stored.state.schedule
    running = [r for r in running_json(schedule) if datetime.fromisoformat(r["until"]) > now]
    return ScheduleOut.model_validate(
        {
            "schedule_id": schedule.schedule_id,
            "site_id": schedule.site_id,
            "name": schedule.name,
            "timezone": schedule.timezone,
            "layers": layers_json(schedule),
            "running_layers": running,
            "overrides": [_override_out(o) for o in stored.state.overrides],
            "version": stored.version,
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
        }
    )


def _accepted(added: AddedOverride) -> OverrideAccepted:
    return OverrideAccepted(**_override_out(added.override).model_dump(), warnings=added.warnings())


def _override_out(o: Override) -> OverrideOut:
    return OverrideOut(
        id=o.override_id,
        override_id=o.override_id,
        staff_id=o.staff_id,
        replaces=o.replaces,
        start=o.start,
        end=o.end,
    )


def _invalid(exc: InvalidSchedule) -> Unprocessable:
    return Unprocessable(str(exc), [{"field": e.field, "message": e.message} for e in exc.errors])


async def _define(
    request: Request,
    caller: Caller,
    schedule_id: UUID,
    body: ScheduleBody,
    apply_from: ApplyFrom | datetime = ApplyFrom.NOW,
) -> ScheduleOut:
    caller.require_site(body.site_id)
    runtime = runtime_of(request)
    settings = _settings(runtime)
    if settings.require_known_staff:
        named = [staff for layer in body.layers for staff in layer.participants]
        await policy_commands.wait_for_staff(
            runtime.db(), body.site_id, named, settings.staff_wait_seconds
        )
    if body.timezone is None:
        await schedule_commands.wait_for_site(
            runtime.db(), body.site_id, settings.staff_wait_seconds
        )
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            stored = await schedule_commands.define_schedule(
                uow,
                schedule_id,
                body.site_id,
                body.name,
                body.timezone,
                _drafts(body),
                require_known_staff=settings.require_known_staff,
                apply_from=apply_from,
            )
    except InvalidSchedule as exc:
        raise _invalid(exc) from None
    except SiteMismatch as exc:
        raise Unprocessable(str(exc), [{"field": "site_id", "message": str(exc)}]) from None
    except ConcurrencyConflict:
        raise Conflict(
            "The schedule was changed at the same moment; read it and try again.",
            schedule_id=str(schedule_id),
        ) from None
    return _out(stored, runtime.clock.now())


@router.post("/schedules", status_code=201)
async def post_schedule(body: ScheduleBody, request: Request, caller: Person) -> ScheduleOut:
    """Create a schedule for a site, in its own zone or the site's."""
    return await _define(request, caller, uuid4(), body)


@router.put("/schedules/{schedule_id}", responses=problem_responses(404))
async def put_schedule(
    schedule_id: UUID, body: ScheduleEdit, request: Request, caller: Person
) -> ScheduleOut:
    """Replace the schedule's definition; its overrides stay. With `apply_from`
    `next_handoff`, each changed layer's running shift is kept until that layer's next
    handoff; with an RFC 3339 instant (in the future, at most a year ahead), the old layers
    stand until that instant and the new ones apply from it (extensions beyond the contract;
    default `now`: at once)."""
    await _readable(request, caller, schedule_id)
    return await _define(request, caller, schedule_id, body, body.apply_from)


@router.get("/schedules/{schedule_id}", responses=problem_responses(404))
async def get_schedule(schedule_id: UUID, request: Request, caller: Caller) -> ScheduleOut:
    stored = await _readable(request, caller, schedule_id)
    return _out(stored, runtime_of(request).clock.now())


@router.get("/schedules/{schedule_id}/oncall", responses=problem_responses(404))
async def get_on_call(
    schedule_id: UUID, request: Request, caller: Caller, at: Instant | None = None
) -> OnCallOut:
    """Who is on call at `at` (default: now), overrides included."""
    stored = await _readable(request, caller, schedule_id)
    instant = _aware(at, "at") if at else runtime_of(request).clock.now()
    staff = on_call(stored.state.schedule, stored.state.overrides, instant)
    return OnCallOut(at=instant, staff_ids=staff)


def _shift_key(shift: Shift) -> tuple[CursorValue, ...]:
    """The order `shifts` answers in, and the page cursor: start, layer, staff, override."""
    return (shift.start, shift.layer or 0, str(shift.staff_id), str(shift.override_id or ""))


@router.get("/schedules/{schedule_id}/shifts", responses={**PAGED, **problem_responses(404)})
async def get_shifts(
    schedule_id: UUID,
    request: Request,
    caller: Caller,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    page: Page,
) -> list[ShiftOut]:
    """Shifts overlapping `[from, to)`, clipped to it (at most 92 days), a page at a time like
    every list (contract v2): the next page is the same window with the `Next-Cursor`."""
    start, end = _aware(from_, "from"), _aware(to, "to")
    if not timedelta(0) < end - start <= MAX_SHIFTS_SPAN:
        raise Unprocessable(
            "`to` must be after `from`, by at most 92 days",
            [{"field": "to", "message": "after from, by at most P92D"}],
        )
    stored = await _readable(request, caller, schedule_id)
    found = shifts(stored.state.schedule, stored.state.overrides, start, end)
    after = page.after(datetime, int, str, str)
    if after is not None:  # computed, not stored: the page is cut from the whole window
        found = [s for s in found if _shift_key(s) > after]
    served = page.serve(found, key=_shift_key)
    return [ShiftOut.model_validate(s, from_attributes=True) for s in served]


@router.post(
    "/schedules/{schedule_id}/overrides", status_code=201, responses=problem_responses(404)
)
async def post_override(
    schedule_id: UUID, body: OverrideBody, request: Request, caller: Person
) -> OverrideAccepted:
    """Replace someone (`replaces`) or add someone for `[start, end)`. Alerts running now page
    the override from their next level on. Overrides apply in the order entered, each to
    whoever is on call at that instant; `warnings` name where this one changes nothing."""
    await _readable(request, caller, schedule_id)
    runtime = runtime_of(request)
    settings = _settings(runtime)
    override_id = uuid4()
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            # A replay answers the override, not the whole schedule.
            uow.name_resource(
                override_id, f"{REPLAYED}/schedules/{schedule_id}/overrides/{override_id}"
            )
            added = await schedule_commands.add_override(
                uow,
                schedule_id,
                override_id,
                body.staff_id,
                body.start,
                body.end,
                body.replaces,
                require_known_staff=settings.require_known_staff,
            )
    except ScheduleNotFound:
        raise NotFound("schedule", schedule_id) from None
    except InvalidOverride as exc:
        raise Unprocessable(str(exc), [{"field": exc.field, "message": exc.message}]) from None
    except ConcurrencyConflict:
        raise Conflict("The schedule changed at the same moment; try again.") from None
    return _accepted(added)


@router.get(
    f"{REPLAYED}/schedules/{{schedule_id}}/overrides/{{override_id}}",
    include_in_schema=False,
    dependencies=[ReplayOnly],
)
async def replayed_override(
    schedule_id: UUID, override_id: UUID, request: Request, caller: Person
) -> OverrideAccepted:
    """What a replayed override answers: the override, while the schedule has it (its
    `warnings` as the schedule stands now)."""
    stored = await _readable(request, caller, schedule_id)
    if stored.state.override(override_id) is None:
        raise NotFound("override", override_id)
    return _accepted(added_override(stored.state, override_id))


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}",
    status_code=204,
    responses=problem_responses(404),
)
async def delete_override(
    schedule_id: UUID, override_id: UUID, request: Request, caller: Person
) -> Response:
    await _readable(request, caller, schedule_id)
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
            await schedule_commands.remove_override(uow, schedule_id, override_id)
    except ScheduleNotFound:
        raise NotFound("schedule", schedule_id) from None
    except UnknownOverride:
        raise NotFound("override", override_id) from None
    except ConcurrencyConflict:
        raise Conflict("The schedule changed at the same moment; try again.") from None
    return Response(status_code=204)


@router.get("/schedules/{schedule_id}/calendar-url", responses=problem_responses(404))
async def get_calendar_url(schedule_id: UUID, request: Request, caller: Caller) -> CalendarUrlOut:
    """A link to the schedule's iCalendar feed, signed for this schedule, for a calendar app."""
    await _readable(request, caller, schedule_id)
    runtime = runtime_of(request)
    settings = _settings(runtime)
    expires_at = runtime.clock.now() + parse_duration(settings.calendar_link_ttl)
    token = settings.link_signer().sign(CALENDAR_PURPOSE, str(schedule_id), expires_at=expires_at)
    base = settings.alert_base_url.rstrip("/")
    return CalendarUrlOut(
        url=f"{base}/schedules/{schedule_id}/calendar.ics?token={token}", expires_at=expires_at
    )


@router.get(
    "/schedules/{schedule_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}, **problem_responses(403, 404, 410)},
    openapi_extra={"security": []},  # the signed token is the credential
)
async def get_calendar(schedule_id: UUID, token: str, request: Request) -> Response:
    """The schedule's shifts for the next 90 days (RFC 5545). The signed token is the
    credential: 403 when it was altered or is for another schedule (expired or not), 410 when
    this schedule's own link expired."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    try:
        link = _settings(runtime).link_signer().verify(token, CALENDAR_PURPOSE, now=now)
    except LinkExpired as exc:
        if exc.link.subject != str(schedule_id):  # another's: told nothing, as an altered link
            raise _bad_link() from None
        raise Problem(410, "link-expired", "Gone", "This calendar link has expired.") from None
    except LinkTampered:
        raise _bad_link() from None
    if link.subject != str(schedule_id):
        raise _bad_link()
    async with runtime.db().acquire() as conn:
        stored = await schedules.state_of(conn, schedule_id)
        if stored is None:
            raise NotFound("schedule", schedule_id)
        state = stored.state
        found = shifts(state.schedule, state.overrides, now, now + timedelta(days=CALENDAR_DAYS))
        names, lang = await feed_words(conn, request, {s.staff_id for s in found})
    body = ical.calendar_feed(schedule_id, state.schedule.name, found, now, names, translator(lang))
    return Response(body, media_type="text/calendar; charset=utf-8", headers=PRIVATE_FEED_HEADERS)


def _bad_link() -> Problem:
    return Problem(403, "link-invalid", "Forbidden", "This link is not valid.")


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise Unprocessable(
            f"`{field}` needs a UTC offset", [{"field": field, "message": "needs a UTC offset"}]
        )
    return value


async def _readable(request: Request, caller: Caller, schedule_id: UUID) -> StoredSchedule:
    async with runtime_of(request).db().acquire() as conn:
        stored = await schedules.state_of(conn, schedule_id)
    if stored is None:
        raise NotFound("schedule", schedule_id)
    caller.require_site(stored.state.schedule.site_id)
    return stored
