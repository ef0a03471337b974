"""A client leaving a recurring group (`POST /group-session-series/{id}/seats/{client_id}/
cancel`) stops waiting for its occurrences too, on real PostgreSQL and NATS: each waiting entry
for an occurrence on or after the leave date closes (`closed`, reason `left_series`) in the
same transaction, and a seat held for its open offer goes to the next client at once."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.db import connect
from tests.booking.integration.support import Booking
from tests.booking.integration.test_group_waitlist import _practice, _published, _waiting
from tests.booking.integration.test_waitlist import _accept_path

pytestmark = pytest.mark.integration

LEAVE = {"reason": "Moving away", "cancelled_by": "client"}
SEOUL = ZoneInfo("Asia/Seoul")  # the practice's site


async def _series(booking: Booking, practice: dict[str, Any]) -> dict[str, Any]:
    """Three weekly occurrences of two seats, the first two days ahead."""
    body = {
        "counselor_id": practice["counselor"]["id"],
        "room_id": practice["room"]["id"],
        "start": booking.at(hours=50).isoformat(),
        "duration_minutes": 90,
        "modality": "in_person",
        "capacity": 2,
        "rrule": "FREQ=WEEKLY;COUNT=3",
    }
    return await booking.created("/group-session-series", body)


async def _seat(booking: Booking, occurrence: dict[str, Any], client_id: str) -> dict[str, Any]:
    return await booking.created(
        f"/group-sessions/{occurrence['id']}/seats", {"client_id": client_id}
    )


async def _fill(booking: Booking, occurrence: dict[str, Any], site_id: str) -> list[Any]:
    return [await _seat(booking, occurrence, (await booking.client(site_id))["id"]) for _ in "ab"]


async def _entry(booking: Booking, entry: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (await booking.get(f"/waitlist/{entry['id']}")).json()
    return found


def _local_date(occurrence: dict[str, Any]) -> str:
    return datetime.fromisoformat(occurrence["start"]).astimezone(SEOUL).date().isoformat()


def _leave_path(series: dict[str, Any], client_id: str) -> str:
    return f"/group-session-series/{series['id']}/seats/{client_id}/cancel"


async def _series_events(booking: Booking, series: dict[str, Any]) -> list[str]:
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
            f"group_series-{series['id']}",
        )
    finally:
        await conn.close()
    return [r["type"] for r in rows]


async def _audited(booking: Booking, client_id: str) -> list[tuple[Any, ...]]:
    """The leave requests' audit entries about the client: (site, status)."""
    conn = await connect(booking.database_url)
    try:
        rows = await conn.fetch(
            """SELECT site_id, status FROM audit WHERE action = 'leave_series'
               AND client_id = $1 ORDER BY id""",
            client_id,
        )
    finally:
        await conn.close()
    return [(str(r["site_id"]), r["status"]) for r in rows]


async def test_leaving_closes_the_waiting_entries_from_the_date_and_passes_an_offer_on(
    booking: Booking,
) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    series = await _series(booking, practice)
    first, second, third = series["occurrences"]
    await _fill(booking, first, site_id)
    second_seats = await _fill(booking, second, site_id)
    before = await _waiting(booking, first, site_id)  # waits before the leave date
    leaving_id = before["client_id"]
    await _seat(booking, third, leaving_id)
    joined = await booking.post(
        f"/group-sessions/{second['id']}/waitlist", {"client_id": leaving_id}
    )
    assert joined.status_code == 201, joined.text
    offered = joined.json()
    next_in_line = await _waiting(booking, second, site_id)
    freed = await booking.post(
        f"/appointments/{second_seats[0]['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert freed.status_code == 200, freed.text
    [made] = await _published(booking, site_id, "WaitlistOfferMade")
    assert made["client_id"] == leaving_id  # the seat is held for the leaving client

    left = await booking.post(
        _leave_path(series, leaving_id), LEAVE | {"from": _local_date(second)}
    )

    assert left.status_code == 200, left.text
    now = await _entry(booking, offered)
    assert (now["status"], now["reason"]) == ("closed", "left_series")
    assert now["left_at"] is not None
    assert [o["status"] for o in now["offers"]] == ["withdrawn"]
    assert (await _entry(booking, before))["status"] == "waiting"  # before the leave date
    # The held seat went to the next client in the same transaction, not when the offer ran out.
    made_now = await _published(booking, site_id, "WaitlistOfferMade", expected=2)
    assert made_now[1]["client_id"] == next_in_line["client_id"]
    assert made_now[1]["group_session_id"] == second["id"]
    occurrences = left.json()["occurrences"]
    assert (len(occurrences[1]["seats"]), occurrences[1]["seats_held"]) == (1, 1)
    assert leaving_id not in {s["client_id"] for s in occurrences[2]["seats"]}
    gone = await booking.http.post(_accept_path(made["accept_url"]))
    assert gone.status_code == 410
    [summary] = await _published(booking, site_id, "GroupSessionSeriesSeatCancelled")
    assert summary["client_id"] == leaving_id
    assert len(summary["occurrences"]) == 1  # the seat given up; the entry is no seat


async def test_a_client_only_waiting_leaves_the_waitlists_without_a_seat_notice(
    booking: Booking,
) -> None:
    """No seat to give up but waiting for an occurrence: the entries close (200), and no
    `GroupSessionSeriesSeatCancelled` (notify's notice of seats given up) is recorded. With
    neither, 409 as before."""
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    series = await _series(booking, practice)
    second = series["occurrences"][1]
    await _fill(booking, second, site_id)
    waiting = await _waiting(booking, second, site_id)
    path = _leave_path(series, waiting["client_id"])

    left = await booking.post(path, LEAVE)

    assert left.status_code == 200, left.text
    now = await _entry(booking, waiting)
    assert (now["status"], now["reason"]) == ("closed", "left_series")
    assert await _series_events(booking, series) == ["GroupSeriesScheduled"]
    # Recorded about the client and the site, though no event of the change names them.
    assert await _audited(booking, waiting["client_id"]) == [(site_id, 200)]
    again = await booking.post(path, LEAVE)
    assert again.status_code == 409, again.text
    stranger = await booking.client(site_id)
    nothing = await booking.post(_leave_path(series, stranger["id"]), LEAVE)
    assert nothing.status_code == 409, nothing.text
