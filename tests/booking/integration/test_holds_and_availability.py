"""Holds block a slot by the same constraint as a booking, expire by a durable timer, and turn
into appointments atomically; availability subtracts bookings, holds and the buffer."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.booking.integration.support import Booking, eventually, site_events

pytestmark = pytest.mark.integration

WEEKDAYS = [{"weekday": d, "from": "09:00", "to": "17:00"} for d in range(1, 6)]


async def _practice(booking: Booking, **site: Any) -> dict[str, Any]:
    the_site = await booking.site(**site)
    counselor = await booking.counselor(the_site["id"])
    answer = await booking.http.put(
        f"/staff/{counselor['id']}/working-hours",
        json={"weekly": WEEKDAYS},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert answer.status_code == 200, answer.text
    return {"site": the_site, "counselor": counselor}


def _hold(counselor: dict[str, Any], start: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "counselor_id": counselor["id"],
        "start": start.isoformat(),
        "duration_minutes": 50,
        "modality": "online",
    } | fields


async def test_sixteen_simultaneous_holds_of_one_slot_give_one_201_and_fifteen_409s(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    start = booking.at(hours=50)

    answers = await asyncio.gather(
        *(booking.post("/holds", _hold(practice["counselor"], start)) for _ in range(16))
    )

    assert Counter(a.status_code for a in answers) == {201: 1, 409: 15}
    winner = next(a.json() for a in answers if a.status_code == 201)
    for loser in (a for a in answers if a.status_code == 409):
        assert loser.json()["conflicting_hold_id"] == winner["id"]
        assert loser.json()["conflicting_resource"] == "counselor"


async def test_a_hold_blocks_a_booking_and_books_once_with_its_hold_id(booking: Booking) -> None:
    practice = await _practice(booking)
    client = await booking.client(practice["site"]["id"])
    other = await booking.client(practice["site"]["id"])
    start = booking.at(hours=72)
    hold = await booking.created("/holds", _hold(practice["counselor"], start))
    assert hold["expires_at"] == (booking.clock.now() + timedelta(minutes=5)).isoformat().replace(
        "+00:00", "Z"
    ) or datetime.fromisoformat(hold["expires_at"]) == booking.clock.now() + timedelta(minutes=5)

    blocked = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["counselor"]["id"],
            "client_id": other["id"],
            "start": start.isoformat(),
            "modality": "online",
        },
    )
    assert blocked.status_code == 409
    assert blocked.json()["conflicting_hold_id"] == hold["id"]

    booked = await booking.appointment(practice["counselor"], client, start, hold_id=hold["id"])
    assert booked["status"] == "booked"
    assert (await booking.get(f"/holds/{hold['id']}")).json()["status"] == "booked"

    again = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["counselor"]["id"],
            "client_id": client["id"],
            "start": (start + timedelta(hours=2)).isoformat(),
            "modality": "online",
            "hold_id": hold["id"],
        },
    )
    assert again.status_code == 409
    assert "already turned into" in again.json()["detail"]


async def test_a_hold_for_another_slot_is_refused_and_books_nothing(booking: Booking) -> None:
    practice = await _practice(booking)
    client = await booking.client(practice["site"]["id"])
    start = booking.at(hours=80)
    hold = await booking.created("/holds", _hold(practice["counselor"], start))

    answer = await booking.post(
        "/appointments",
        {
            "counselor_id": practice["counselor"]["id"],
            "client_id": client["id"],
            "start": (start + timedelta(minutes=30)).isoformat(),
            "modality": "online",
            "hold_id": hold["id"],
        },
    )

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["start"]
    listed = await booking.get("/appointments", client_id=client["id"])
    assert listed.json() == []
    assert (await booking.get(f"/holds/{hold['id']}")).json()["status"] == "held"


async def test_an_expired_hold_is_released_by_the_timer_and_frees_its_slot(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    client = await booking.client(practice["site"]["id"])
    start = booking.at(hours=90)
    hold = await booking.created("/holds", _hold(practice["counselor"], start))

    booking.clock.advance(timedelta(minutes=5, seconds=1))

    async def hold_expired() -> bool:
        return bool((await booking.get(f"/holds/{hold['id']}")).json()["status"] == "expired")

    await eventually(hold_expired)

    booked = await booking.appointment(practice["counselor"], client, start)
    assert booked["status"] == "booked"
    events = await site_events(booking.nats_url, practice["site"]["id"], 6)
    types = [envelope["type"] for _, envelope, _ in events]
    assert types[3:] == ["HoldPlaced", "HoldReleased", "AppointmentBooked"]
    released = events[4][1]["data"]
    assert released["hold_id"] == hold["id"]
    assert released["reason"] == "expired"


async def test_availability_leaves_out_bookings_live_holds_and_the_buffer(
    booking: Booking,
) -> None:
    practice = await _practice(booking, timezone="UTC")
    site_id, counselor = practice["site"]["id"], practice["counselor"]
    rules = await booking.http.put(
        f"/sites/{site_id}/booking-rules",
        json={"buffer_minutes": 10},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert rules.status_code == 200, rules.text
    day = _next_weekday(booking.clock.now() + timedelta(days=2), 2)  # a Tuesday
    client = await booking.client(site_id)
    await booking.appointment(counselor, client, day.replace(hour=10))  # 10:00-10:50
    await booking.created("/holds", _hold(counselor, day.replace(hour=13)))

    answer = await booking.get(
        "/availability",
        site_id=site_id,
        **{"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
        duration_minutes="50",
        limit="200",
    )

    assert answer.status_code == 200, answer.text
    starts = [datetime.fromisoformat(s["start"]).strftime("%H:%M") for s in answer.json()]
    # 50-minute slots from 09:00: 09:50 and 10:40 come within 10 minutes of the booking
    # (10:00-10:50), 12:20 and 13:10 within 10 minutes of the hold (13:00-13:50).
    assert starts == ["09:00", "11:30", "14:00", "14:50", "15:40"]


async def test_in_person_availability_needs_a_free_room(booking: Booking) -> None:
    practice = await _practice(booking, timezone="UTC")
    site_id, counselor = practice["site"]["id"], practice["counselor"]
    room = await booking.room(site_id)
    other = await booking.counselor(site_id)
    day = _next_weekday(booking.clock.now() + timedelta(days=2), 3)
    client = await booking.client(site_id)
    await booking.appointment(
        other, client, day.replace(hour=9), modality="in_person", room_id=room["id"]
    )

    answer = await booking.get(
        "/availability",
        site_id=site_id,
        counselor_id=counselor["id"],
        modality="in_person",
        **{"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
    )

    slots = answer.json()
    assert slots[0]["start"].startswith(day.replace(hour=9, minute=50).strftime("%Y-%m-%dT%H:%M"))
    assert {s["room_id"] for s in slots} == {room["id"]}


async def test_availability_keeps_nine_oclock_local_across_a_dst_change(booking: Booking) -> None:
    practice = await _practice(booking, timezone="America/New_York")
    zone = ZoneInfo("America/New_York")
    # US clocks spring forward on Sunday 10 March 2030.
    begins = datetime(2030, 3, 8, 0, 0, tzinfo=zone)
    answer = await booking.get(
        "/availability",
        site_id=practice["site"]["id"],
        duration_minutes="240",
        **{"from": begins.isoformat(), "to": (begins + timedelta(days=5)).isoformat()},
    )

    firsts = [datetime.fromisoformat(s["start"]) for s in answer.json()][::2]
    assert [f.astimezone(zone).strftime("%a %H:%M") for f in firsts] == [
        "Fri 09:00",
        "Mon 09:00",
        "Tue 09:00",
    ]
    assert [f.astimezone(UTC).hour for f in firsts] == [14, 13, 13]


async def test_availability_refuses_a_window_over_a_month(booking: Booking) -> None:
    practice = await _practice(booking)
    start = booking.at(hours=1)
    answer = await booking.get(
        "/availability",
        site_id=practice["site"]["id"],
        **{"from": start.isoformat(), "to": (start + timedelta(days=40)).isoformat()},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "to"


async def test_a_late_client_cancellation_and_a_no_show_owe_the_sites_fee(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id, counselor = practice["site"]["id"], practice["counselor"]
    fee = {"amount": "40.00", "currency": "KRW"}
    await booking.http.put(
        f"/sites/{site_id}/booking-rules",
        json={"missed_session_fee": fee},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    client = await booking.client(site_id)
    late = await booking.appointment(counselor, client, booking.at(hours=3))
    early = await booking.appointment(counselor, client, booking.at(hours=200))
    by_counselor = await booking.appointment(counselor, client, booking.at(hours=5))
    missed = await booking.appointment(counselor, client, booking.at(minutes=-10))

    def cancel(appointment: dict[str, Any], by: str) -> Any:
        return booking.post(
            f"/appointments/{appointment['id']}/cancel", {"reason": "ill", "cancelled_by": by}
        )

    assert (await cancel(late, "client")).json()["fee_due"] == fee
    assert (await cancel(early, "client")).json()["fee_due"] is None
    assert (await cancel(by_counselor, "counselor")).json()["fee_due"] is None
    no_show = await booking.post(f"/appointments/{missed['id']}/no-show")
    assert no_show.json()["fee_due"] == fee
    events = await site_events(booking.nats_url, site_id, 11)
    published = {e["type"]: e["data"] for _, e, _ in events if e["type"] == "SessionMissed"}
    assert published["SessionMissed"]["fee_due"] == fee


def _next_weekday(after: datetime, weekday: int) -> datetime:
    day = after.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day.isoweekday() != weekday:
        day += timedelta(days=1)
    return day


async def test_fhir_free_slots_are_the_availability_and_page_with_the_busy_ones(
    booking: Booking,
) -> None:
    practice = await _practice(booking, timezone="UTC")
    site_id, counselor = practice["site"]["id"], practice["counselor"]
    day = _next_weekday(booking.clock.now() + timedelta(days=2), 3)  # a Wednesday
    session = await booking.appointment(
        counselor, await booking.client(site_id), day.replace(hour=11)
    )
    window = {"from": day.isoformat(), "to": (day + timedelta(days=2)).isoformat()}
    available = await booking.get(
        "/availability", site_id=site_id, counselor_id=counselor["id"], limit="200", **window
    )
    assert available.status_code == 200, available.text

    async def slots(key: str = "dev-admin-key", **extra: str) -> httpx.Response:
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("schedule", f"Schedule/{counselor['id']}"),
            ("start", f"ge{day.date().isoformat()}"),
            ("start", f"lt{(day + timedelta(days=2)).date().isoformat()}"),
            *extra.items(),
        ]
        return await booking.http.get(
            "/fhir/Slot", params=params, headers={"Authorization": f"Bearer {key}"}
        )

    def found(answer: httpx.Response) -> list[dict[str, Any]]:
        assert answer.status_code == 200, answer.text
        return [e["resource"] for e in answer.json().get("entry", [])]

    both = found(await slots(status="free,busy", limit="200"))
    for slot in both:
        get_fhir_model_class("Slot").model_validate(slot)  # valid FHIR R4 Slots

    def times(items: list[dict[str, Any]]) -> list[tuple[datetime, datetime]]:
        return [
            (datetime.fromisoformat(i["start"]), datetime.fromisoformat(i["end"])) for i in items
        ]

    assert times([s for s in both if s["status"] == "free"]) == times(available.json())
    assert [s["id"] for s in both if s["status"] == "busy"] == [session["id"]]
    assert [s["start"] for s in both] == sorted(s["start"] for s in both)
    assert found(await slots(status="free", limit="200")) == [
        s for s in both if s["status"] == "free"
    ]  # the same ids on every search
    assert found(await slots()) == [s for s in both if s["status"] == "busy"]  # the default

    paged: list[dict[str, Any]] = []
    answer = await slots(status="free,busy", limit="4")
    while True:
        paged += found(answer)
        cursor = answer.headers.get("Next-Cursor")
        if cursor is None:
            break
        answer = await slots(status="free,busy", limit="4", cursor=cursor)
    assert paged == both

    assert found(await slots("elsewhere-key", status="free")) == []  # another site's schedule
    assert (await slots(status="tentative")).status_code == 422
    unbounded = await booking.http.get(
        "/fhir/Slot",
        params={"schedule": counselor["id"], "status": "free", "start": f"ge{day.date()}"},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert unbounded.status_code == 422
    assert "both ends" in unbounded.json()["detail"]
    many = [("schedule", ",".join(str(uuid4()) for _ in range(21)))]
    too_many = await booking.http.get(
        "/fhir/Slot",
        params=[
            *many,
            ("status", "free"),
            ("start", f"ge{day.date()}"),
            ("start", f"lt{(day + timedelta(days=2)).date()}"),
        ],
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert too_many.status_code == 422
    assert "at most 20 schedules" in too_many.json()["detail"]
