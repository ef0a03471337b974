"""Series across a site's closed days, on real PostgreSQL and NATS: with `skip_closed` the
closed dates are left out and named (answer, stored series, summary events, a rebuild), COUNT
counts the occurrences booked, other conflicts still refuse the series, and a series with
nothing left to book is a 409. Closing days names the group sessions already on them."""

from datetime import date, datetime
from typing import Any

import pytest

from booking.application.rebuild import rebuild_projections
from counseling_shared.db import connect
from tests.booking.integration.support import Booking
from tests.booking.integration.test_group_waitlist import _published
from tests.booking.integration.test_site_closures import (
    CLOSURES,
    HOLIDAY,
    PARIS,
    TRAINING,
    Practice,
    _at,
    _practice,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def practice(booking: Booking) -> Practice:
    return await _practice(booking)


def _days(listed: list[dict[str, Any]], field: str = "start") -> list[str]:
    return [datetime.fromisoformat(o[field]).astimezone(PARIS).date().isoformat() for o in listed]


def _group(practice: Practice, day: date, **fields: Any) -> dict[str, Any]:
    return {
        "counselor_id": practice.counselor["id"],
        "start": _at(day, 10).isoformat(),
        "duration_minutes": 90,
        "modality": "online",
        "capacity": 4,
    } | fields


SKIPPED_TRAINING = {
    "start": _at(TRAINING[1], 10).isoformat(),
    "reason": "site_closed",
    "closed_on": TRAINING[1].isoformat(),
    "closure_kind": "training",
}


async def test_a_series_skipping_closed_days_books_count_occurrences_and_names_the_rest(
    practice: Practice,
) -> None:
    await practice.close(CLOSURES)
    body = {
        **practice.session(_at(date(2030, 3, 5), 10)),  # Tuesdays; the 12th is training
        "rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=TU",
        "skip_closed": True,
    }

    booked = await practice.call("POST", "/appointment-series", body)

    assert booked.status_code == 201, booked.text
    series = booked.json()
    # COUNT counts sessions booked: the series runs on a week past the closed Tuesday.
    assert _days(series["appointments"]) == ["2030-03-05", "2030-03-19", "2030-03-26"]
    skipped = series["skipped_occurrences"]
    assert [s | {"start": _days([s])[0]} for s in skipped] == [
        SKIPPED_TRAINING | {"start": "2030-03-12"}
    ]
    assert (await practice.booking.get(f"/appointment-series/{series['id']}")).json() == series

    [summary] = await _published(practice.booking, practice.site_id, "AppointmentSeriesBooked")
    assert _days(summary["occurrences"]) == ["2030-03-05", "2030-03-19", "2030-03-26"]
    assert [
        (s["reason"], s["closed_on"], s["closure_kind"]) for s in summary["skipped_occurrences"]
    ] == [("site_closed", "2030-03-12", "training")]
    assert "Team training" not in str(summary)  # codes only: the closure's label stays here

    conn = await connect(practice.booking.database_url)
    try:
        await rebuild_projections(conn)
    finally:
        await conn.close()
    assert (await practice.booking.get(f"/appointment-series/{series['id']}")).json() == series


async def test_without_skip_closed_the_series_is_still_refused_whole(practice: Practice) -> None:
    await practice.close(CLOSURES)
    body = {
        **practice.session(_at(date(2030, 3, 5), 10)),
        "rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=TU",
    }

    refused = await practice.call("POST", "/appointment-series", body)

    assert refused.status_code == 409, refused.text
    assert [c["closed_on"] for c in refused.json()["conflicts"]] == ["2030-03-12"]
    assert (await practice.booking.get("/appointments", site_id=practice.site_id)).json() == []


async def test_a_busy_counselor_still_refuses_a_series_that_skips_closed_days(
    practice: Practice,
) -> None:
    await practice.close(CLOSURES)
    other = await practice.booking.client(practice.site_id)
    taken = await practice.booking.appointment(
        practice.counselor, other, _at(date(2030, 3, 19), 10)
    )
    body = {
        **practice.session(_at(date(2030, 3, 5), 10)),
        "rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=TU",
        "skip_closed": True,
    }

    refused = await practice.call("POST", "/appointment-series", body)

    assert refused.status_code == 409, refused.text
    [conflict] = refused.json()["conflicts"]
    assert (conflict["reason"], conflict["conflicting_appointment_id"]) == ("taken", taken["id"])
    listed = await practice.booking.get("/appointments", site_id=practice.site_id)
    assert [a["id"] for a in listed.json()] == [taken["id"]]  # nothing of the series


async def test_a_series_with_every_date_closed_is_a_409_and_skip_with_override_a_422(
    practice: Practice,
) -> None:
    await practice.close(CLOSURES)
    body = {
        **practice.session(_at(TRAINING[0], 10)),
        "rrule": "FREQ=WEEKLY;UNTIL=20300312;BYDAY=MO,TU",
        "skip_closed": True,
    }

    refused = await practice.call("POST", "/appointment-series", body)

    assert refused.status_code == 409, refused.text
    assert [(c["reason"], c["closed_on"]) for c in refused.json()["conflicts"]] == [
        ("site_closed", "2030-03-11"),
        ("site_closed", "2030-03-12"),
    ]
    both = await practice.call("POST", "/appointment-series", body | {"allow_closed_site": True})
    assert both.status_code == 422, both.text
    assert [e["field"] for e in both.json()["errors"]] == ["skip_closed"]
    assert (await practice.booking.get("/appointments", site_id=practice.site_id)).json() == []


async def test_a_group_series_skipping_closed_days_names_them(practice: Practice) -> None:
    await practice.close(CLOSURES)
    body = _group(practice, HOLIDAY, rrule="FREQ=WEEKLY;COUNT=2", skip_closed=True)

    scheduled = await practice.call("POST", "/group-session-series", body)

    assert scheduled.status_code == 201, scheduled.text
    series = scheduled.json()
    assert _days(series["occurrences"]) == ["2030-03-13", "2030-03-20"]
    assert [(s["closed_on"], s["closure_kind"]) for s in series["skipped_occurrences"]] == [
        (HOLIDAY.isoformat(), "public_holiday")
    ]
    again = await practice.booking.get(f"/group-session-series/{series['id']}")
    assert again.json()["skipped_occurrences"] == series["skipped_occurrences"]
    [summary] = await _published(practice.booking, practice.site_id, "GroupSessionSeriesScheduled")
    assert summary["group_session_ids"] == [g["id"] for g in series["occurrences"]]
    assert [s["closed_on"] for s in summary["skipped_occurrences"]] == [HOLIDAY.isoformat()]


async def test_closing_days_names_the_group_sessions_on_them_empty_or_not(
    practice: Practice,
) -> None:
    empty = await practice.booking.created("/group-sessions", _group(practice, date(2030, 3, 7)))
    seated = await practice.booking.created("/group-sessions", _group(practice, date(2030, 3, 8)))
    seat = await practice.booking.created(
        f"/group-sessions/{seated['id']}/seats", {"client_id": practice.client["id"]}
    )
    await practice.booking.created("/group-sessions", _group(practice, date(2030, 3, 14)))

    answer = await practice.close([{"from": "2030-03-07", "to": "2030-03-08", "kind": "closure"}])

    assert answer.status_code == 200, answer.text
    assert answer.json()["affected_group_session_ids"] == [empty["id"], seated["id"]]
    assert answer.json()["affected_appointment_ids"] == [seat["id"]]
    cleared = await practice.close([])
    assert cleared.json()["affected_group_session_ids"] == []
