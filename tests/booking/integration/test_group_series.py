"""Recurring group sessions through the HTTP API on real PostgreSQL and NATS: every occurrence
or none, at the site's wall-clock time across DST; a client seated in every future occurrence
or none; cancelled from a date."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.booking.integration.support import Booking
from tests.booking.integration.test_group_waitlist import _published

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
CANCEL = {"reason": "Counselor on leave", "cancelled_by": "center"}


async def _practice(booking: Booking) -> dict[str, Any]:
    the_site = await booking.site(timezone="Europe/Paris")
    return {
        "site": the_site,
        "counselor": await booking.counselor(the_site["id"]),
        "room": await booking.room(the_site["id"]),
    }


def _series_body(practice: dict[str, Any], start: datetime, rrule: str, **fields: Any) -> Any:
    return {
        "counselor_id": practice["counselor"]["id"],
        "room_id": practice["room"]["id"],
        "start": start.isoformat(),
        "duration_minutes": 90,
        "modality": "in_person",
        "capacity": 2,
        "rrule": rrule,
    } | fields


def _local(instant: str) -> datetime:
    return datetime.fromisoformat(instant).astimezone(PARIS)


async def test_each_occurrence_is_a_group_session_at_the_same_local_time_across_dst(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    # Monday 25 March 2030, 18:00 in Paris; the clocks go forward on Sunday 31 March.
    first = datetime(2030, 3, 25, 18, 0, tzinfo=PARIS)

    series = await booking.created(
        "/group-session-series", _series_body(practice, first, "FREQ=WEEKLY;COUNT=3")
    )

    starts = [_local(o["start"]) for o in series["occurrences"]]
    assert [(s.month, s.day, s.hour) for s in starts] == [(3, 25, 18), (4, 1, 18), (4, 8, 18)]
    offsets = [datetime.fromisoformat(o["start"]).utcoffset() for o in series["occurrences"]]
    assert {o["capacity"] for o in series["occurrences"]} == {2}
    assert series["timezone"] == "Europe/Paris"
    assert len(set(offsets)) == 1  # answered in UTC: the wall clock is Paris' own
    for occurrence in series["occurrences"]:
        found = await booking.get(f"/group-sessions/{occurrence['id']}")
        assert found.json()["status"] == "booked"
    [announced] = await _published(booking, practice["site"]["id"], "GroupSessionSeriesScheduled")
    assert announced["group_series_id"] == series["id"]
    assert announced["group_session_ids"] == [o["id"] for o in series["occurrences"]]
    scheduled = await _published(booking, practice["site"]["id"], "GroupSessionScheduled", 3)
    assert len(scheduled) == 3
    again = (await booking.get(f"/group-session-series/{series['id']}")).json()
    assert [o["id"] for o in again["occurrences"]] == [o["id"] for o in series["occurrences"]]


async def test_taken_and_closed_occurrences_are_all_named_and_nothing_is_scheduled(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    first = datetime(2030, 4, 2, 10, 0, tzinfo=PARIS)  # Tuesdays
    client = await booking.client(site_id)
    taken = await booking.appointment(
        practice["counselor"], client, first + timedelta(days=7, minutes=30)
    )
    closed = await booking.http.put(
        f"/sites/{site_id}/closures",
        json={"closures": [{"from": "2030-04-16", "to": "2030-04-16", "kind": "training"}]},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert closed.status_code == 200, closed.text

    answer = await booking.post(
        "/group-session-series", _series_body(practice, first, "FREQ=WEEKLY;COUNT=4")
    )

    assert answer.status_code == 409, answer.text
    conflicts = answer.json()["conflicts"]
    assert [(_local(c["start"]).day, c["reason"]) for c in conflicts] == [
        (9, "taken"),
        (16, "site_closed"),
    ]
    assert conflicts[0]["conflicting_appointment_id"] == taken["id"]
    assert conflicts[0]["conflicting_resource"] == "counselor"
    assert conflicts[1]["closed_on"] == "2030-04-16"
    listed = await booking.get("/group-sessions", site_id=site_id)
    assert listed.json() == []
    # A group in the way is named as such.
    group = await booking.created(
        "/group-sessions",
        {
            "counselor_id": practice["counselor"]["id"],
            "start": (first + timedelta(days=28)).isoformat(),
            "modality": "online",
            "capacity": 3,
        },
    )
    clash = await booking.post(
        "/group-session-series",
        _series_body(practice, first + timedelta(days=21), "FREQ=WEEKLY;COUNT=2"),
    )
    assert clash.status_code == 409, clash.text
    [over_group] = clash.json()["conflicts"]
    assert over_group["conflicting_group_session_id"] == group["id"]
    bad_rule = await booking.post(
        "/group-session-series", _series_body(practice, first, "FREQ=DAILY;COUNT=3")
    )
    assert bad_rule.status_code == 422
    assert bad_rule.json()["errors"][0]["field"] == "rrule"


async def test_a_client_is_seated_in_every_future_occurrence_or_in_none(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    first = datetime(2030, 4, 3, 14, 0, tzinfo=PARIS)  # Wednesdays
    series = await booking.created(
        "/group-session-series", _series_body(practice, first, "FREQ=WEEKLY;COUNT=3")
    )
    path = f"/group-session-series/{series['id']}/seats"
    occurrences = series["occurrences"]
    seated, busy, late = [await booking.client(site_id) for _ in range(3)]

    answer = await booking.post(path, {"client_id": seated["id"]})

    assert answer.status_code == 200, answer.text
    seats = [o["seats"] for o in answer.json()["occurrences"]]
    assert [[s["client_id"] for s in o] for o in seats] == [[seated["id"]]] * 3
    # Seated again: nothing changes (each occurrence keeps its one seat for the client).
    again = await booking.post(path, {"client_id": seated["id"]})
    assert [len(o["seats"]) for o in again.json()["occurrences"]] == [1, 1, 1]

    # Another client is busy at the second occurrence, and the third is full: neither is
    # seated anywhere, and both are named.
    elsewhere = await booking.counselor(site_id)
    taken = await booking.appointment(
        elsewhere, busy, datetime.fromisoformat(occurrences[1]["start"])
    )
    filler = await booking.client(site_id)
    await booking.created(
        f"/group-sessions/{occurrences[2]['id']}/seats", {"client_id": filler["id"]}
    )

    refused = await booking.post(path, {"client_id": busy["id"]})

    assert refused.status_code == 409, refused.text
    conflicts = refused.json()["conflicts"]
    assert [(c["group_session_id"], c["reason"]) for c in conflicts] == [
        (occurrences[1]["id"], "taken"),
        (occurrences[2]["id"], "full"),
    ]
    assert conflicts[0]["conflicting_appointment_id"] == taken["id"]
    now = (await booking.get(f"/group-session-series/{series['id']}")).json()
    assert all(busy["id"] not in {s["client_id"] for s in o["seats"]} for o in now["occurrences"])
    unknown = await booking.post(
        "/group-session-series/6a0d7f8e-5c1b-4f3a-9d2e-1b2c3d4e5f60/seats",
        {"client_id": late["id"]},
    )
    assert unknown.status_code == 404


async def test_only_the_occurrences_ahead_are_seated(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    series = await booking.created(
        "/group-session-series",
        _series_body(
            practice, booking.at(hours=2), "FREQ=WEEKLY;COUNT=2", modality="online", room_id=None
        ),
    )
    booking.clock.advance(timedelta(hours=3))  # the first occurrence is over
    client = await booking.client(site_id)

    answer = await booking.post(
        f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}
    )

    assert answer.status_code == 200, answer.text
    assert [len(o["seats"]) for o in answer.json()["occurrences"]] == [0, 1]


async def test_cancelling_from_a_date_cancels_those_occurrences_and_their_seats(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    first = datetime(2030, 4, 4, 9, 0, tzinfo=PARIS)  # Thursdays
    series = await booking.created(
        "/group-session-series", _series_body(practice, first, "FREQ=WEEKLY;COUNT=3")
    )
    client = await booking.client(site_id)
    await booking.post(f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]})

    answer = await booking.post(
        f"/group-session-series/{series['id']}/cancel", CANCEL | {"from": "2030-04-11"}
    )

    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["cancelled_from"] == "2030-04-11"
    assert [o["status"] for o in found["occurrences"]] == ["booked", "cancelled", "cancelled"]
    assert [len(o["seats"]) for o in found["occurrences"]] == [1, 0, 0]
    [announced] = await _published(booking, site_id, "GroupSessionSeriesCancelled")
    assert announced["group_session_ids"] == [o["id"] for o in found["occurrences"][1:]]
    assert announced["from_date"] == "2030-04-11"
    assert "reason" not in announced
    cancelled_seats = await _published(booking, site_id, "AppointmentCancelled", 2)
    assert len(cancelled_seats) == 2
