"""A client's seats in a recurring group, on real PostgreSQL and NATS: each seat taken or
given up by a series command names the series (`group_series_id`), and one summary per client
follows them (`GroupSessionSeriesSeatTaken`, `GroupSessionSeriesSeatCancelled`): what notify
sends one message for. A seat taken alone names no series."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.booking.integration.support import Booking, eventually, site_events
from tests.booking.integration.test_group_series import PARIS, _practice, _series_body
from tests.booking.integration.test_group_waitlist import _stream_count

pytestmark = pytest.mark.integration

LEAVE = {"reason": "Moving away", "cancelled_by": "client"}


async def _events(
    booking: Booking, site_id: str, until: str, *types: str, expected: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """The site's events of `until` and `types` on the BOOKING stream, in order (type, data),
    once `expected` events of type `until` are there (the relay publishes after the commit,
    each transaction's events in order)."""

    async def found() -> list[tuple[str, dict[str, Any]]]:
        held = await _stream_count(booking, site_id)
        events = await site_events(booking.nats_url, site_id, held) if held else []
        wanted = [(e["type"], e["data"]) for _, e, _ in events if e["type"] in (until, *types)]
        return wanted if sum(t == until for t, _ in wanted) >= expected else []

    matching: list[tuple[str, dict[str, Any]]] = await eventually(found)
    return matching


async def _six_weeks(booking: Booking) -> tuple[dict[str, Any], dict[str, Any]]:
    practice = await _practice(booking)
    first = datetime(2030, 5, 6, 17, 0, tzinfo=PARIS)  # Mondays
    series = await booking.created(
        "/group-session-series",
        _series_body(practice, first, "FREQ=WEEKLY;COUNT=6", capacity=4),
    )
    return practice, series


async def test_a_seat_in_six_occurrences_names_the_series_and_is_summed_up_once(
    booking: Booking,
) -> None:
    practice, series = await _six_weeks(booking)
    site_id = practice["site"]["id"]
    client, alone = await booking.client(site_id), await booking.client(site_id)
    single = await booking.created(
        f"/group-sessions/{series['occurrences'][0]['id']}/seats", {"client_id": alone["id"]}
    )

    seated = await booking.post(
        f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}
    )
    assert seated.status_code == 200, seated.text
    # Seated again: nothing new is taken, so nothing more is summed up.
    again = await booking.post(
        f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}
    )
    assert again.status_code == 200, again.text

    found = await _events(booking, site_id, "GroupSessionSeriesSeatTaken", "AppointmentBooked")
    seats = [d for t, d in found if t == "AppointmentBooked" and d["client_id"] == client["id"]]
    assert len(seats) == 6
    assert {s["group_series_id"] for s in seats} == {series["id"]}
    [summary] = [d for t, d in found if t == "GroupSessionSeriesSeatTaken"]
    # After every seat it sums them up (one transaction, in order).
    position = found.index(("GroupSessionSeriesSeatTaken", summary))
    assert position > max(found.index(("AppointmentBooked", s)) for s in seats)
    assert summary["group_series_id"] == series["id"]
    assert summary["client_id"] == client["id"]
    assert [o["appointment_id"] for o in summary["occurrences"]] == [
        s["appointment_id"] for s in seats
    ]
    assert [o["group_session_id"] for o in summary["occurrences"]] == [
        o["id"] for o in series["occurrences"]
    ]
    assert summary["modality"] == "in_person"
    [alone_seat] = [d for _, d in found if d["client_id"] == alone["id"]]
    assert alone_seat["appointment_id"] == single["id"]
    assert alone_seat.get("group_series_id") is None


async def test_leaving_the_series_gives_up_every_seat_from_a_date_in_one_summary(
    booking: Booking,
) -> None:
    practice, series = await _six_weeks(booking)
    site_id = practice["site"]["id"]
    leaving, staying = await booking.client(site_id), await booking.client(site_id)
    for client in (leaving, staying):
        answer = await booking.post(
            f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}
        )
        assert answer.status_code == 200, answer.text
    path = f"/group-session-series/{series['id']}/seats/{leaving['id']}/cancel"

    left = await booking.post(path, LEAVE | {"from": "2030-05-20"})  # the third Monday on

    assert left.status_code == 200, left.text
    by_occurrence = [sorted(s["client_id"] for s in o["seats"]) for o in left.json()["occurrences"]]
    both = sorted([leaving["id"], staying["id"]])
    assert by_occurrence == [both, both] + [[staying["id"]]] * 4
    found = await _events(
        booking, site_id, "GroupSessionSeriesSeatCancelled", "AppointmentCancelled"
    )
    cancelled = [d for t, d in found if t == "AppointmentCancelled"]
    assert len(cancelled) == 4
    assert {(c["client_id"], c["group_series_id"]) for c in cancelled} == {
        (leaving["id"], series["id"])
    }
    [summary] = [d for t, d in found if t == "GroupSessionSeriesSeatCancelled"]
    assert found[-1] == ("GroupSessionSeriesSeatCancelled", summary)
    assert (summary["client_id"], summary["cause"], summary["cancelled_by"]) == (
        leaving["id"],
        "left",
        "client",
    )
    assert summary["cancelled_from"] == "2030-05-20"
    assert [o["appointment_id"] for o in summary["occurrences"]] == [
        c["appointment_id"] for c in cancelled
    ]
    assert "reason" not in summary  # the reason stays in booking

    # Nothing left to give up: 409, and nothing more is published. An unknown series: 404.
    again = await booking.post(path, LEAVE | {"from": "2030-05-20"})
    assert again.status_code == 409, again.text
    unknown = await booking.post(
        f"/group-session-series/6a0d7f8e-5c1b-4f3a-9d2e-1b2c3d4e5f60/seats/{leaving['id']}/cancel",
        LEAVE,
    )
    assert unknown.status_code == 404
    blank = await booking.post(path, {"reason": "", "cancelled_by": "someone"})
    assert blank.status_code == 422
    assert {e["field"] for e in blank.json()["errors"]} == {"reason", "cancelled_by"}
    assert len(await _events(booking, site_id, "GroupSessionSeriesSeatCancelled")) == 1


async def test_cancelling_the_series_sums_up_each_seated_clients_seats_once(
    booking: Booking,
) -> None:
    practice, series = await _six_weeks(booking)
    site_id = practice["site"]["id"]
    first, second = await booking.client(site_id), await booking.client(site_id)
    for client in (first, second):
        await booking.post(
            f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]}
        )

    answer = await booking.post(
        f"/group-session-series/{series['id']}/cancel",
        {"reason": "Counselor on leave", "cancelled_by": "center", "from": "2030-05-13"},
    )

    assert answer.status_code == 200, answer.text
    found = await _events(
        booking,
        site_id,
        "GroupSessionSeriesCancelled",
        "AppointmentCancelled",
        "GroupSessionSeriesSeatCancelled",
    )
    cancelled = [d for t, d in found if t == "AppointmentCancelled"]
    assert len(cancelled) == 10  # five occurrences, two seats each
    assert {c["group_series_id"] for c in cancelled} == {series["id"]}
    summaries = [d for t, d in found if t == "GroupSessionSeriesSeatCancelled"]
    assert sorted(s["client_id"] for s in summaries) == sorted([first["id"], second["id"]])
    assert {(s["cause"], s["cancelled_by"]) for s in summaries} == {("series_cancelled", "center")}
    assert [len(s["occurrences"]) for s in summaries] == [5, 5]
    # The series' own event comes last.
    assert found[-1][0] == "GroupSessionSeriesCancelled"


async def test_leaving_keeps_the_seats_of_sessions_under_way_or_over(booking: Booking) -> None:
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    series = await booking.created(
        "/group-session-series",
        _series_body(
            practice, booking.at(hours=2), "FREQ=WEEKLY;COUNT=2", modality="online", room_id=None
        ),
    )
    client = await booking.client(site_id)
    await booking.post(f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]})
    booking.clock.advance(timedelta(hours=2, minutes=30))  # the first session is under way

    left = await booking.post(
        f"/group-session-series/{series['id']}/seats/{client['id']}/cancel", LEAVE
    )

    assert left.status_code == 200, left.text
    assert [len(o["seats"]) for o in left.json()["occurrences"]] == [1, 0]
    [summary] = [d for _, d in await _events(booking, site_id, "GroupSessionSeriesSeatCancelled")]
    assert len(summary["occurrences"]) == 1


async def _waiting_for_locks(conn: asyncpg.Connection, count: int) -> None:
    """Until `count` requests wait for a group session's row lock (parked in the database)."""

    async def parked() -> bool:
        waiting = await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE wait_event_type = 'Lock' AND query LIKE '%group_sessions%FOR UPDATE%'
                 AND pid <> pg_backend_pid()"""
        )
        return bool(waiting >= count)

    assert await eventually(parked)


async def test_a_seat_taken_while_the_series_is_being_cancelled_is_in_its_clients_notice(
    booking: Booking,
) -> None:
    """Every seat the series' cancellation cancels names the series, so notify sends nothing
    for it alone: its client must then be summed up. A client seated in one occurrence just
    before the cancellation reaches it (the seat waited on the occurrence's row lock, then
    committed) had their seat cancelled but no summary: no notice at all."""
    practice, series = await _six_weeks(booking)
    site_id = practice["site"]["id"]
    in_series, late = await booking.client(site_id), await booking.client(site_id)
    await booking.post(
        f"/group-session-series/{series['id']}/seats", {"client_id": in_series["id"]}
    )
    second = series["occurrences"][1]["id"]
    blocker = await asyncpg.connect(booking.database_url)
    watcher = await asyncpg.connect(booking.database_url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("SELECT 1 FROM group_sessions WHERE id = $1 FOR UPDATE", second)
        seat = asyncio.create_task(
            booking.post(f"/group-sessions/{second}/seats", {"client_id": late["id"]})
        )
        await _waiting_for_locks(watcher, 1)  # the seat waits first
        cancel = asyncio.create_task(
            booking.post(
                f"/group-session-series/{series['id']}/cancel",
                {"reason": "Counselor on leave", "cancelled_by": "center", "from": "2030-05-06"},
            )
        )
        await _waiting_for_locks(watcher, 2)  # then the cancellation, at the same occurrence
        await holding.rollback()
        seated, cancelled = await seat, await cancel
    finally:
        await blocker.close()
        await watcher.close()

    assert seated.status_code == 201, seated.text
    assert cancelled.status_code == 200, cancelled.text
    found = await _events(
        booking,
        site_id,
        "GroupSessionSeriesCancelled",
        "AppointmentCancelled",
        "GroupSessionSeriesSeatCancelled",
    )
    [late_seat] = [
        d for t, d in found if t == "AppointmentCancelled" and d["client_id"] == late["id"]
    ]
    assert late_seat["group_series_id"] == series["id"]  # so notify waits for the summary
    summaries = {d["client_id"]: d for t, d in found if t == "GroupSessionSeriesSeatCancelled"}
    assert set(summaries) == {in_series["id"], late["id"]}
    assert [o["appointment_id"] for o in summaries[late["id"]]["occurrences"]] == [
        late_seat["appointment_id"]
    ]


async def test_cancelling_the_series_from_today_keeps_the_session_under_way_or_over(
    booking: Booking,
) -> None:
    """As leaving it does: a session of today that has begun took place (or is taking place);
    its outcome is recorded, not cancelled, and its clients are not told it will not take
    place."""
    practice = await _practice(booking)
    site_id = practice["site"]["id"]
    series = await booking.created(
        "/group-session-series",
        _series_body(
            practice, booking.at(hours=2), "FREQ=WEEKLY;COUNT=2", modality="online", room_id=None
        ),
    )
    client = await booking.client(site_id)
    await booking.post(f"/group-session-series/{series['id']}/seats", {"client_id": client["id"]})
    booking.clock.advance(timedelta(hours=2, minutes=30))  # the first session is under way

    cancelled = await booking.post(
        f"/group-session-series/{series['id']}/cancel",
        {"reason": "Counselor on leave", "cancelled_by": "center"},
    )

    assert cancelled.status_code == 200, cancelled.text
    occurrences = cancelled.json()["occurrences"]
    assert [o["status"] for o in occurrences] == ["booked", "cancelled"]
    assert [len(o["seats"]) for o in occurrences] == [1, 0]
    [summary] = [d for _, d in await _events(booking, site_id, "GroupSessionSeriesSeatCancelled")]
    assert [o["group_session_id"] for o in summary["occurrences"]] == [occurrences[1]["id"]]
