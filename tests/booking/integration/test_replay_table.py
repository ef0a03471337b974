"""Every keyed `POST` of booking's OpenAPI document, called twice with the same
`Idempotency-Key` and body: the second answer is a replay with the first one's status and the
same body keys (contract: Retries). A route added without a row here fails the first test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from opsctl.config import Service
from tests.booking.integration.support import ADMIN_KEY, Booking
from tests.booking.integration.test_holds_and_availability import _practice as _working
from tests.keyed_posts import keyed_posts, posted_twice

pytestmark = pytest.mark.integration

Practice = dict[str, Any]
Call = tuple[str, dict[str, Any] | None]
CANCEL = {"reason": "moved", "cancelled_by": "center"}


@pytest.fixture(scope="module")
async def practice(booking: Booking) -> Practice:
    return await _working(booking)


async def _appointment(booking: Booking, practice: Practice, hours: float) -> dict[str, Any]:
    client = await booking.client(practice["site"]["id"])
    return await booking.appointment(practice["counselor"], client, booking.at(hours))


async def _started(booking: Booking, practice: Practice) -> dict[str, Any]:
    booked = await _appointment(booking, practice, 1)
    booking.clock.advance(timedelta(hours=1, minutes=5))
    return booked


def _booking_body(practice: Practice, client: dict[str, Any], hours_from: Any) -> dict[str, Any]:
    return {
        "counselor_id": practice["counselor"]["id"],
        "client_id": client["id"],
        "start": hours_from.isoformat(),
        "modality": "online",
    }


async def _sites(b: Booking, p: Practice) -> Call:
    return "/sites", {"name": "Riverside", "timezone": "Asia/Seoul", "locale": "ko"}


async def _staff(b: Booking, p: Practice) -> Call:
    return "/staff", {
        "site_id": p["site"]["id"],
        "name": "Dr. Ji-woo Han",
        "role": "counselor",
        "email": f"c-{uuid.uuid4().hex[:6]}@center.example",
    }


async def _deactivate(b: Booking, p: Practice) -> Call:
    member = await b.counselor(p["site"]["id"])
    return f"/staff/{member['id']}/deactivate", None


async def _rooms(b: Booking, p: Practice) -> Call:
    return "/rooms", {"site_id": p["site"]["id"], "name": "Room 9"}


async def _clients(b: Booking, p: Practice) -> Call:
    return "/clients", {
        "site_id": p["site"]["id"],
        "name": "Seo-yeon Kim",
        "email": "seo-yeon@mail.example",
        "preferred_channel": "email",
    }


async def _episode_close(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    return f"/clients/{client['id']}/episode/close", {
        "reason": "moved",
        "effective_on": "2030-03-31",
    }


async def _appointments(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    return "/appointments", _booking_body(p, client, b.at(200))


async def _appointments_of_hold(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    _, hold_body = await _holds(b, p)
    assert hold_body is not None
    hold = await b.created("/holds", hold_body | {"start": b.at(205).isoformat()})
    return "/appointments", _booking_body(p, client, b.at(205)) | {
        "duration_minutes": 50,
        "hold_id": hold["id"],
    }


async def _reschedule(b: Booking, p: Practice) -> Call:
    booked = await _appointment(b, p, 210)
    return f"/appointments/{booked['id']}/reschedule", {"start": b.at(212).isoformat()}


async def _cancel(b: Booking, p: Practice) -> Call:
    booked = await _appointment(b, p, 220)
    return f"/appointments/{booked['id']}/cancel", CANCEL


async def _no_show(b: Booking, p: Practice) -> Call:
    return f"/appointments/{(await _started(b, p))['id']}/no-show", None


async def _complete(b: Booking, p: Practice) -> Call:
    booked = await _started(b, p)
    return f"/appointments/{booked['id']}/complete", {"goal_horizon": "short_term", "goals": []}


async def _holds(b: Booking, p: Practice) -> Call:
    return "/holds", {
        "counselor_id": p["counselor"]["id"],
        "start": b.at(230).isoformat(),
        "duration_minutes": 50,
        "modality": "online",
    }


async def _series(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    return "/appointment-series", _booking_body(p, client, b.at(240)) | {
        "rrule": "FREQ=WEEKLY;COUNT=2"
    }


async def _series_cancel(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    body = _booking_body(p, client, b.at(300)) | {"rrule": "FREQ=WEEKLY;COUNT=2"}
    series = await b.created("/appointment-series", body)
    return f"/appointment-series/{series['id']}/cancel", CANCEL


async def _waitlist(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    return "/waitlist", {"client_id": client["id"], "site_id": p["site"]["id"]}


async def _waitlist_withdraw(b: Booking, p: Practice) -> Call:
    client = await b.client(p["site"]["id"])
    entry = await b.created("/waitlist", {"client_id": client["id"], "site_id": p["site"]["id"]})
    return f"/waitlist/{entry['id']}/withdraw", {"reason": "client_request"}


def _group_body(b: Booking, p: Practice, hours: float) -> dict[str, Any]:
    return {
        "counselor_id": p["counselor"]["id"],
        "start": b.at(hours).isoformat(),
        "modality": "online",
        "capacity": 4,
    }


async def _group_sessions(b: Booking, p: Practice) -> Call:
    return "/group-sessions", _group_body(b, p, 400)


async def _group_seats(b: Booking, p: Practice) -> Call:
    group = await b.created("/group-sessions", _group_body(b, p, 410))
    client = await b.client(p["site"]["id"])
    return f"/group-sessions/{group['id']}/seats", {"client_id": client["id"]}


async def _group_reschedule(b: Booking, p: Practice) -> Call:
    group = await b.created("/group-sessions", _group_body(b, p, 420))
    return f"/group-sessions/{group['id']}/reschedule", {"start": b.at(422).isoformat()}


async def _group_cancel(b: Booking, p: Practice) -> Call:
    group = await b.created("/group-sessions", _group_body(b, p, 430))
    return f"/group-sessions/{group['id']}/cancel", CANCEL


async def _group_waitlist(b: Booking, p: Practice) -> Call:
    group = await b.created("/group-sessions", _group_body(b, p, 440) | {"capacity": 2})
    for _ in range(2):
        client = await b.client(p["site"]["id"])
        await b.created(f"/group-sessions/{group['id']}/seats", {"client_id": client["id"]})
    client = await b.client(p["site"]["id"])
    return f"/group-sessions/{group['id']}/waitlist", {"client_id": client["id"]}


async def _group_capacity(b: Booking, p: Practice) -> Call:
    group = await b.created("/group-sessions", _group_body(b, p, 450))
    return f"/group-sessions/{group['id']}/capacity", {"capacity": 6}


def _group_series_body(b: Booking, p: Practice, hours: float) -> dict[str, Any]:
    return _group_body(b, p, hours) | {"rrule": "FREQ=WEEKLY;COUNT=2"}


async def _group_series(b: Booking, p: Practice) -> Call:
    return "/group-session-series", _group_series_body(b, p, 460)


async def _group_series_seats(b: Booking, p: Practice) -> Call:
    series = await b.created("/group-session-series", _group_series_body(b, p, 470))
    client = await b.client(p["site"]["id"])
    return f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}


async def _group_series_leave(b: Booking, p: Practice) -> Call:
    series = await b.created("/group-session-series", _group_series_body(b, p, 490))
    client = await b.client(p["site"]["id"])
    await b.post(f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]})
    return f"/group-session-series/{series['id']}/seats/{client['id']}/cancel", CANCEL


async def _group_series_cancel(b: Booking, p: Practice) -> Call:
    series = await b.created("/group-session-series", _group_series_body(b, p, 480))
    return f"/group-session-series/{series['id']}/cancel", CANCEL


CALLS: dict[str, Callable[[Booking, Practice], Awaitable[Call]]] = {
    "/sites": _sites,
    "/staff": _staff,
    "/staff/{staff_id}/deactivate": _deactivate,
    "/rooms": _rooms,
    "/clients": _clients,
    "/clients/{client_id}/episode/close": _episode_close,
    "/appointments": _appointments,
    "/appointments with hold_id": _appointments_of_hold,
    "/appointments/{appointment_id}/reschedule": _reschedule,
    "/appointments/{appointment_id}/cancel": _cancel,
    "/appointments/{appointment_id}/no-show": _no_show,
    "/appointments/{appointment_id}/complete": _complete,
    "/holds": _holds,
    "/appointment-series": _series,
    "/appointment-series/{series_id}/cancel": _series_cancel,
    "/waitlist": _waitlist,
    "/waitlist/{entry_id}/withdraw": _waitlist_withdraw,
    "/group-sessions": _group_sessions,
    "/group-sessions/{group_session_id}/seats": _group_seats,
    "/group-sessions/{group_session_id}/reschedule": _group_reschedule,
    "/group-sessions/{group_session_id}/cancel": _group_cancel,
    "/group-sessions/{group_session_id}/waitlist": _group_waitlist,
    "/group-sessions/{group_session_id}/capacity": _group_capacity,
    "/group-session-series": _group_series,
    "/group-session-series/{group_series_id}/seats": _group_series_seats,
    "/group-session-series/{group_series_id}/cancel": _group_series_cancel,
    "/group-session-series/{group_series_id}/seats/{client_id}/cancel": _group_series_leave,
}


def test_every_keyed_post_has_a_row() -> None:
    assert {route.split()[0] for route in CALLS} == keyed_posts(Service.BOOKING)


@pytest.mark.parametrize("route", sorted(CALLS))
async def test_a_replay_answers_the_first_status_and_shape(
    booking: Booking, practice: Practice, route: str
) -> None:
    path, body = await CALLS[route](booking, practice)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Idempotency-Key": str(uuid.uuid4())}

    await posted_twice(booking.http, path, body, headers)
