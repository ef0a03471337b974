"""Recurring series: wall-clock time across DST, all occurrences checked in one transaction,
cancel from a date on, one occurrence moved alone."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
FIRST = datetime(2030, 3, 18, 17, 0, tzinfo=PARIS)  # Paris moves to summer time on 31 March


async def _practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site(timezone="Europe/Paris", locale="fr")
    return {
        "site": site,
        "counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
    }


def _series(practice: dict[str, Any], rule: str, first: datetime = FIRST) -> dict[str, Any]:
    return {
        "counselor_id": practice["counselor"]["id"],
        "client_id": practice["client"]["id"],
        "start": first.isoformat(),
        "modality": "online",
        "rrule": rule,
    }


def _local(appointments: list[dict[str, Any]]) -> list[str]:
    return [
        datetime.fromisoformat(a["start"]).astimezone(PARIS).strftime("%m-%d %H:%M")
        for a in appointments
    ]


async def test_a_weekly_series_over_a_dst_change_keeps_five_pm_local(booking: Booking) -> None:
    practice = await _practice(booking)

    booked = await booking.created("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=4"))

    assert _local(booked["appointments"]) == [
        "03-18 17:00",
        "03-25 17:00",
        "04-01 17:00",
        "04-08 17:00",
    ]
    assert {a["status"] for a in booked["appointments"]} == {"booked"}
    shown = await booking.get(f"/appointment-series/{booked['id']}")
    assert shown.json()["appointments"] == booked["appointments"]


async def test_a_series_with_one_conflicting_occurrence_books_nothing_and_names_it(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    someone_else = await booking.client(practice["site"]["id"])
    third = FIRST + timedelta(weeks=2)  # 1 April 17:00, after the change
    taken = await booking.appointment(practice["counselor"], someone_else, third)

    answer = await booking.post("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=5"))

    assert answer.status_code == 409
    problem = answer.json()
    assert problem["conflicts"] == [
        {
            "start": third.astimezone(ZoneInfo("UTC")).isoformat(),
            "conflicting_appointment_id": taken["id"],
            "conflicting_hold_id": None,
            "conflicting_resource": "counselor",
        }
    ]
    mine = await booking.get("/appointments", client_id=practice["client"]["id"])
    assert mine.json() == []


async def test_a_series_is_cancelled_from_a_date_on_and_one_occurrence_moves_alone(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    booked = await booking.created("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=4"))
    occurrences = booked["appointments"]

    moved = await booking.post(
        f"/appointments/{occurrences[1]['id']}/reschedule",
        {"start": (FIRST + timedelta(weeks=1, hours=1)).isoformat()},
    )
    assert moved.status_code == 200
    cancelled = await booking.post(
        f"/appointment-series/{booked['id']}/cancel",
        {"from": "2030-04-01", "reason": "moving away", "cancelled_by": "client"},
    )

    assert cancelled.status_code == 200, cancelled.text
    after = cancelled.json()["appointments"]
    assert [a["status"] for a in after] == ["booked", "booked", "cancelled", "cancelled"]
    assert _local(after)[:2] == ["03-18 17:00", "03-25 18:00"]
    assert cancelled.json()["cancelled_from"] == "2030-04-01"


async def test_a_series_over_fifty_two_occurrences_is_refused(booking: Booking) -> None:
    practice = await _practice(booking)

    answer = await booking.post("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=60"))

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "rrule"
