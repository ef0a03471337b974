"""Recurring series: wall-clock time across DST, all occurrences checked in one transaction,
cancel from a date on, one occurrence moved alone; the events a series publishes."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.booking.integration.support import Booking, site_events

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
            "reason": "taken",  # `site_closed` for a day the site is closed
        }
    ]
    mine = await booking.get("/appointments", client_id=practice["client"]["id"])
    assert mine.json() == []


async def test_a_series_over_a_group_session_names_the_group(booking: Booking) -> None:
    """A group session holds the counselor's time: the series' conflict says which group (it
    named nothing: no appointment, no hold)."""
    practice = await _practice(booking)
    third = FIRST + timedelta(weeks=2)
    group = await booking.created(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": third.isoformat(),
            "duration_minutes": 90,
            "modality": "online",
            "capacity": 4,
        },
    )

    answer = await booking.post("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=4"))

    assert answer.status_code == 409, answer.text
    assert answer.json()["conflicts"] == [
        {
            "start": third.astimezone(ZoneInfo("UTC")).isoformat(),
            "conflicting_appointment_id": None,
            "conflicting_hold_id": None,
            "conflicting_group_session_id": group["id"],
            "conflicting_resource": "counselor",
            "reason": "taken",
        }
    ]


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


async def test_a_series_publishes_its_occurrences_with_its_id_then_one_summary(
    booking: Booking,
) -> None:
    """Occurrences booked or cancelled by a series command name it, and the summary follows
    them; an occurrence moved or cancelled alone is an ordinary appointment's event."""
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    booked = await booking.created("/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=4"))
    series_id, occurrences = booked["id"], booked["appointments"]
    later = (FIRST + timedelta(weeks=1, hours=1)).isoformat()
    moved = await booking.post(f"/appointments/{occurrences[1]['id']}/reschedule", {"start": later})
    assert moved.status_code == 200
    alone = await booking.post(
        f"/appointments/{occurrences[0]['id']}/cancel",
        {"reason": "ill", "cancelled_by": "client"},
    )
    assert alone.status_code == 200
    cancelled = await booking.post(
        f"/appointment-series/{series_id}/cancel",
        {"from": "2030-04-01", "reason": "moving away", "cancelled_by": "client"},
    )
    assert cancelled.status_code == 200, cancelled.text

    found = await site_events(booking.nats_url, site_id, 13)

    events = [(subject.rsplit(".", 1)[1], envelope["data"]) for subject, envelope, _ in found]
    assert [name for name, _ in events[3:]] == [
        *["AppointmentBooked"] * 4,
        "AppointmentSeriesBooked",
        "AppointmentRescheduled",
        "AppointmentCancelled",
        *["AppointmentCancelled"] * 2,
        "AppointmentSeriesCancelled",
    ]
    assert [data.get("series_id") for _, data in events[3:]] == [
        *[series_id] * 5,
        None,
        None,
        *[series_id] * 3,
    ]
    summary = events[7][1]
    assert [o["appointment_id"] for o in summary["occurrences"]] == [a["id"] for a in occurrences]
    assert (summary["client_id"], summary["modality"]) == (practice["client"]["id"], "online")
    ended = events[12][1]
    assert [o["appointment_id"] for o in ended["occurrences"]] == [a["id"] for a in occurrences[2:]]
    assert (ended["cancelled_from"], ended["cancelled_by"]) == ("2030-04-01", "client")
    assert found[7][1]["subject"] == series_id  # the summary is the series' own event


async def test_a_client_cancelling_the_series_from_today_is_not_charged_for_this_mornings_session(
    booking: Booking,
) -> None:
    """A session under way or over took place (its outcome is recorded): cancelling the
    series from today leaves it as it is. It was cancelled with the rest, as a late
    cancellation by the client (its start had passed), so the site's fee was charged for a
    session the client attended."""
    site = await booking.site(timezone="Europe/Paris", late_cancellation_window="PT2H")
    practice = {
        "counselor": await booking.counselor(site["id"]),
        "client": await booking.client(site["id"]),
    }
    rules = await booking.http.put(
        f"/sites/{site['id']}/booking-rules",
        json={"missed_session_fee": {"amount": "40.00", "currency": "EUR"}},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert rules.status_code == 200, rules.text
    first = booking.at(hours=3)
    booked = await booking.created(
        "/appointment-series", _series(practice, "FREQ=WEEKLY;COUNT=2", first)
    )
    booking.clock.advance(timedelta(hours=3, minutes=20))  # the first session is under way

    cancelled = await booking.post(
        f"/appointment-series/{booked['id']}/cancel",
        {"reason": "moving away", "cancelled_by": "client"},
    )

    assert cancelled.status_code == 200, cancelled.text
    after = cancelled.json()["appointments"]
    assert [a["status"] for a in after] == ["booked", "cancelled"]
    assert [a.get("fee_due") for a in after] == [None, None]  # a week ahead: not late
