"""The client moves their own session from the manage page (`client_reschedule` rule).

`GET …/manage/reschedule` only shows: the same counselor's free times of the same modality and
length for the site's `client_reschedule_days`, in the client's zone and language, grouped by
day, as one form of radio buttons. `POST …/manage/reschedule` (the token and the chosen
`start`) moves it through the reschedule command (`AppointmentRescheduled` with a new
`manage_url`; the old link is refused after, 410). A time no longer offered (taken meanwhile):
the list again with a notice (409), nothing moved. The same choice sent twice (the old link,
the session already at that time): the "moved" page again, moved once. Inside the late window,
a group seat or a series occurrence: a page saying to call the site (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from babel.dates import format_date, format_time
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from booking.application import client_reschedule
from booking.domain.errors import NotAllowedNow, SlotTaken
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.scheduling.closures import SiteClosed
from booking.entrypoints.http.deps import execute
from booking.entrypoints.policies import offer_policy
from booking.entrypoints.web.manage_page import (
    _HTML,
    _PATH,
    _REFUSALS,
    _form_token,
    _message,
    _open_manageable,
    _page,
    _Refused,
    _refused_now,
    _reload,
    _render,
    _Shown,
)
from booking.entrypoints.web.texts import MANAGE_TEXTS
from counseling_shared.service import Runtime, runtime_of
from counseling_shared.zone_names import zone_city

router = APIRouter()
_MOVE = f"{_PATH}/reschedule"
_MAX_START = 40  # an RFC 3339 instant as the form sends it


@dataclass(frozen=True)
class _Day:
    label: str
    slots: list[dict[str, str]]  # value (the start, RFC 3339) and label (the local time)


@router.get(
    _MOVE,
    summary="The client's choice of another time for the appointment (HTML)",
    responses={
        200: {"description": "The counselor's free times, by day, and the button."},
        **_REFUSALS,
        409: _page("Cancelled before; or not movable from the link (late, group, series, off)."),
    },
    **_HTML,
)
async def ask_move(appointment_id: UUID, request: Request, token: str = "") -> HTMLResponse:
    """Extension: lists the times the session may move to; changes nothing."""
    runtime = runtime_of(request)
    try:
        shown = await _open_movable(runtime, appointment_id, token)
    except _Refused as refused:
        return _message(request, refused)
    return await _choices(request, runtime, shown, token, 200)


@router.post(
    _MOVE,
    summary="The client moves the appointment to the time chosen (HTML form post)",
    responses={
        200: {"description": "Moved: a page with the new time (also when sent twice)."},
        **_REFUSALS,
        409: _page("Cancelled; not movable from the link; or the time was taken (the list)."),
        422: _page("No time chosen (or not one the page sent): the list again."),
    },
    **_HTML,
)
async def move(appointment_id: UUID, request: Request) -> HTMLResponse:
    """Extension: the reschedule command as the link's holder (`AppointmentRescheduled`)."""
    runtime = runtime_of(request)
    chosen = _instant((await request.form()).get("start"))
    try:
        token = await _form_token(request)
        try:
            shown = await _open_movable(runtime, appointment_id, token)
        except _Refused as refused:
            if _already_there(refused, chosen):
                return _moved(request, refused.shown)
            raise
        if chosen is None:  # no time chosen, or not one the page could have sent
            return await _choices(request, runtime, shown, token, 422, changed="move_pick")
        slot = await _offered_at(runtime, shown, chosen)
        if slot is None:
            return await _choices(request, runtime, shown, token, 409, changed="move_taken")
        on_freed = offer_policy(runtime).on_freed()
        try:
            await execute(
                runtime,
                lambda uow: client_reschedule.move_by_client(
                    uow, appointment_id, shown.appointment.start, slot, on_freed
                ),
            )
        except (SlotTaken, SiteClosed):
            return await _choices(request, runtime, shown, token, 409, changed="move_taken")
        except NotAllowedNow:
            again = await _reload(runtime, shown)
            if again.appointment.start != shown.appointment.start:
                raise _Refused(410, "replaced", again) from None  # moved by someone else
            raise _refused_now(again) from None  # cancelled or begun meanwhile
        moved = await _reload(runtime, shown)
    except _Refused as refused:
        return _message(request, refused)
    return _moved(request, moved)


async def _open_movable(runtime: Runtime, appointment_id: UUID, token: str) -> _Shown:
    shown = await _open_manageable(runtime, appointment_id, token)
    if shown.move is not None:
        raise _Refused(409, f"move_{shown.move}", shown)
    return shown


def _already_there(refused: _Refused, chosen: datetime | None) -> bool:
    """The old link of a move to `chosen` already made (a double submit)."""
    shown = refused.shown
    return (
        refused.key == "replaced"
        and shown is not None
        and chosen is not None
        and shown.appointment.start == chosen
    )


def _moved(request: Request, shown: _Shown | None) -> HTMLResponse:
    assert shown is not None
    return _message(request, _Refused(200, "moved", shown))


def _instant(sent: object) -> datetime | None:
    if not isinstance(sent, str) or len(sent) > _MAX_START:
        return None
    try:
        at = datetime.fromisoformat(sent)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


async def _offers(runtime: Runtime, shown: _Shown) -> list[FreeSlot]:
    async with runtime.db().acquire() as conn:
        return await client_reschedule.offered(
            conn, shown.appointment, shown.now, shown.late_window, shown.move_days
        )


async def _offered_at(runtime: Runtime, shown: _Shown, chosen: datetime) -> FreeSlot | None:
    return next((s for s in await _offers(runtime, shown) if s.start == chosen), None)


async def _choices(
    request: Request,
    runtime: Runtime,
    shown: _Shown,
    token: str,
    status: int,
    *,
    changed: str = "",
) -> HTMLResponse:
    """The free times by day in the client's zone and language (`changed`: why shown again)."""
    days: dict[object, _Day] = {}
    for slot in await _offers(runtime, shown):
        local = slot.start.astimezone(shown.zone)
        day = days.get(local.date())
        if day is None:
            label = format_date(local.date(), format="full", locale=shown.locale)
            day = days[local.date()] = _Day(label, [])
        time = format_time(local, format="short", tzinfo=shown.zone, locale=shown.locale)
        day.slots.append({"value": slot.start.isoformat(), "label": time})
    extra: dict[str, Any] = {
        "days": list(days.values()),
        "move_days": shown.move_days,
        "move_action": _MOVE.format(appointment_id=shown.appointment.id),
        "title": MANAGE_TEXTS[shown.locale]["move_title"],
        "zone": zone_city(shown.zone, shown.locale, shown.now),
    }
    return _render(request, "manage_move.html", shown, token, status, changed=changed, extra=extra)
