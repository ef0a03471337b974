"""A site's closures reach crisis's on-call answers: booking's real SiteClosuresChanged, through
NATS, moves a public holiday from the weekday layer (open days) to the holiday layer (closed
days) in `/oncall`, `/shifts`, the calendar feed, override warnings and paging; the same list
again records nothing, a bad list is dead-lettered with its reason, and a rebuild restores the
closed days."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from counseling_shared.events import ClosedSpan, SiteClosuresChanged
from crisis.application.rebuild import rebuild_projections
from devstack.handles import PostgresHandle
from devstack.postgres import drop_database, ensure_database
from tests.booking.integration.support import Booking, running_booking
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # Monday 4 March 2030, 10:00 in Paris
HOLIDAY = date(2030, 3, 6)  # a Wednesday
OPEN_DAY = date(2030, 3, 5)
CLOSURES = [{"from": HOLIDAY.isoformat(), "to": HOLIDAY.isoformat(), "kind": "public_holiday"}]


def _paris(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS)


@pytest.fixture(scope="module")
def clock() -> ControllableClock:
    return ControllableClock(NOW)


@pytest.fixture(scope="module")
async def booking(
    postgres_server: PostgresHandle, nats_url: str, clock: ControllableClock
) -> AsyncIterator[Booking]:
    """booking on a database of its own (each service has one), on crisis's NATS."""
    name = f"t_closures_booking_{uuid.uuid4().hex[:8]}"
    await ensure_database(postgres_server.url(), name)
    try:
        async with running_booking(postgres_server.url(name), nats_url, clock) as svc:
            yield svc
    finally:
        await drop_database(postgres_server.url(), name)


class Center:
    def __init__(self, site_id: str, base: str, clinician: str, holiday: str, schedule: str):
        self.site_id, self.schedule = site_id, schedule
        self.base, self.clinician, self.holiday = base, clinician, holiday


@pytest.fixture(scope="module")
async def center(booking: Booking, crisis: RunningCrisis) -> Center:
    """A Paris site from booking; its schedule in crisis (in the site's zone, learned from
    booking): someone always on call, the clinicians Mon-Fri 9-17 on open days, the holiday
    cover 9-17 on closed days."""
    site = await booking.site(timezone="Europe/Paris", locale="fr")
    base, clinician, holiday = [(await booking.counselor(site["id"]))["id"] for _ in range(3)]

    def layer(staff: str, restrictions: list[dict[str, Any]]) -> dict[str, Any]:
        rotation = {"kind": "daily", "handoff": "09:00", "start_on": "2030-01-01"}
        return {"rotation": rotation, "participants": [staff], "restrictions": restrictions}

    body = {
        "site_id": site["id"],
        "name": "Center line",
        "layers": [
            layer(base, []),
            layer(
                clinician,
                [{"weekdays": [1, 2, 3, 4, 5], "from": "09:00", "to": "17:00", "days": "open"}],
            ),
            layer(
                holiday,
                [{"weekdays": list(range(1, 8)), "from": "09:00", "to": "17:00", "days": "closed"}],
            ),
        ],
    }

    async def created() -> dict[str, Any] | None:
        answer = await crisis.http.post("/schedules", json=body)
        return answer.json() if answer.status_code == 201 else None

    schedule = await eventually(created, timeout=15)
    assert schedule["timezone"] == "Europe/Paris"
    assert [r["days"] for r in schedule["layers"][1]["restrictions"]] == ["open"]
    assert [r["days"] for r in schedule["layers"][0]["restrictions"]] == []
    return Center(site["id"], base, clinician, holiday, schedule["schedule_id"])


async def _on_call(crisis: RunningCrisis, center: Center, at: datetime) -> list[str]:
    answer = await crisis.http.get(
        f"/schedules/{center.schedule}/oncall", params={"at": at.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["staff_ids"])


async def _recorded(database_url: str, site_id: str) -> list[dict[str, Any]]:
    conn = await connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT type, data FROM events WHERE stream_id = $1 ORDER BY version",
            f"site-closures-{site_id}",
        )
    finally:
        await conn.close()
    return [{"type": r["type"], **r["data"]} for r in rows]


async def test_a_public_holiday_from_booking_moves_the_day_to_the_holiday_layer(
    booking: Booking, crisis: RunningCrisis, center: Center, database_url: str
) -> None:
    holiday_morning = _paris(HOLIDAY, 10)
    assert await _on_call(crisis, center, holiday_morning) == [center.clinician]

    closed = await booking.http.put(
        f"/sites/{center.site_id}/closures",
        json={"closures": CLOSURES},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert closed.status_code == 200, closed.text

    async def moved() -> bool:
        return await _on_call(crisis, center, holiday_morning) == [center.holiday]

    await eventually(moved, timeout=10)
    assert await _on_call(crisis, center, _paris(OPEN_DAY, 10)) == [center.clinician]
    assert await _on_call(crisis, center, _paris(HOLIDAY, 18)) == [center.base]

    shifts = await crisis.http.get(
        f"/schedules/{center.schedule}/shifts",
        params={
            "from": _paris(HOLIDAY, 0).isoformat(),
            "to": _paris(HOLIDAY + timedelta(days=1), 0).isoformat(),
        },
    )
    assert shifts.status_code == 200, shifts.text
    assert [(s["staff_id"], s["layer"]) for s in shifts.json()] == [
        (center.base, 1),
        (center.holiday, 3),
        (center.base, 1),
    ]

    link = await crisis.http.get(f"/schedules/{center.schedule}/calendar-url")
    assert link.status_code == 200, link.text
    url = urlsplit(link.json()["url"])
    feed = await crisis.http.get(f"{url.path}?{url.query}", headers={"Accept-Language": "en"})
    assert feed.status_code == 200, feed.text
    events = {
        e.decoded("dtstart"): str(e["description"])
        for e in Calendar.from_ical(feed.content).walk("VEVENT")
    }
    assert events[_paris(HOLIDAY, 9)] == "layer 3"
    assert events[_paris(OPEN_DAY, 9)] == "layer 2"

    assert [e["type"] for e in await _recorded(database_url, center.site_id)] == [
        "SiteClosuresRecorded"
    ]


async def test_the_same_list_again_records_nothing(
    booking: Booking, crisis: RunningCrisis, center: Center, database_url: str, bus: Bus
) -> None:
    again = await booking.http.put(
        f"/sites/{center.site_id}/closures",
        json={"closures": CLOSURES},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert again.status_code == 200, again.text
    # An older list arriving late (a redriven message) changes nothing either.
    older = SiteClosuresChanged(site_id=UUID(center.site_id), closures=[])
    event_id = await bus.publish(older, source="booking", time=NOW - timedelta(days=1))
    await eventually(lambda: _handled(database_url, event_id))

    assert len(await _recorded(database_url, center.site_id)) == 1
    assert await _on_call(crisis, center, _paris(HOLIDAY, 10)) == [center.holiday]


async def test_a_schedule_in_another_zone_follows_the_sites_local_holiday(
    crisis: RunningCrisis, center: Center
) -> None:
    """A New York schedule of the Paris site: its 20:00-23:00 window on the evening of the 5th
    (New York) starts on the 6th in Paris, the site's holiday; the next evening's on the 7th."""
    new_york = ZoneInfo("America/New_York")
    layer = {
        "rotation": {"kind": "daily", "handoff": "09:00", "start_on": "2030-01-01"},
        "participants": [center.holiday],
        "restrictions": [
            {"weekdays": list(range(1, 8)), "from": "20:00", "to": "23:00", "days": "closed"}
        ],
    }
    created = await crisis.http.post(
        "/schedules",
        json={
            "site_id": center.site_id,
            "name": "Overnight desk",
            "timezone": "America/New_York",
            "layers": [layer],
        },
    )
    assert created.status_code == 201, created.text
    schedule = created.json()["schedule_id"]

    async def on_call(day: date) -> list[str]:
        at = datetime(day.year, day.month, day.day, 21, tzinfo=new_york)
        answer = await crisis.http.get(
            f"/schedules/{schedule}/oncall", params={"at": at.isoformat()}
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["staff_ids"])

    assert await on_call(HOLIDAY - timedelta(days=1)) == [center.holiday]
    assert await on_call(HOLIDAY) == []


async def _handled(database_url: str, event_id: UUID) -> bool:
    conn = await connect(database_url)
    try:
        found = await conn.fetchval(
            "SELECT true FROM inbox WHERE consumer = 'crisis-site-closures' AND event_id = $1",
            event_id,
        )
    finally:
        await conn.close()
    return bool(found)


async def test_a_list_that_cannot_be_right_is_dead_lettered_with_its_reason(
    crisis: RunningCrisis, database_url: str, bus: Bus
) -> None:
    site = uuid.uuid4()
    backwards = SiteClosuresChanged(
        site_id=site,
        closures=[ClosedSpan(from_=date(2030, 5, 2), to=date(2030, 5, 1), kind="closure")],
    )
    event_id = await bus.publish(backwards, source="booking")

    async def dead_letter() -> dict[str, Any] | None:
        conn = await connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT consumer, reason, detail FROM dead_letters WHERE event_id = $1", event_id
            )
        finally:
            await conn.close()
        return dict(row) if row else None

    found = await eventually(dead_letter, timeout=10)
    assert found["consumer"] == "crisis-site-closures"
    assert found["reason"] == "rejected"
    assert "closures.0" in found["detail"]
    assert await _recorded(database_url, str(site)) == []


async def test_a_rebuild_restores_the_closed_days(
    crisis: RunningCrisis, center: Center, database_url: str, clock: ControllableClock
) -> None:
    conn = await connect(database_url)
    try:
        live = await conn.fetch("SELECT * FROM site_closures ORDER BY site_id")
        await conn.execute("DELETE FROM site_closures")
        assert await _on_call(crisis, center, _paris(HOLIDAY, 10)) == [center.clinician]

        counts = await rebuild_projections(conn, clock=clock)

        assert counts["site_closures"] == 1
        assert await conn.fetch("SELECT * FROM site_closures ORDER BY site_id") == live
    finally:
        await conn.close()
    assert await _on_call(crisis, center, _paris(HOLIDAY, 10)) == [center.holiday]


async def test_an_override_adding_the_holiday_team_on_the_holiday_is_warned_of(
    crisis: RunningCrisis, center: Center
) -> None:
    added = await crisis.http.post(
        f"/schedules/{center.schedule}/overrides",
        json={
            "staff_id": center.holiday,
            "start": _paris(HOLIDAY, 10).isoformat(),
            "end": _paris(HOLIDAY, 11).isoformat(),
        },
    )
    assert added.status_code == 201, added.text
    [warning] = added.json()["warnings"]
    assert warning.endswith(f"no effect, {center.holiday} is on call already")
    removed = await crisis.http.delete(
        f"/schedules/{center.schedule}/overrides/{added.json()['override_id']}"
    )
    assert removed.status_code == 204


async def test_a_flag_on_the_holiday_pages_the_holiday_team(
    crisis: RunningCrisis, center: Center, clock: ControllableClock
) -> None:
    level = {"staff_ids": [], "schedule_ids": [center.schedule], "ack_timeout": "PT10M"}
    policy = await crisis.http.put(
        f"/sites/{center.site_id}/escalation-policy", json={"levels": [level], "repeat": 0}
    )
    assert policy.status_code == 200, policy.text
    clock.advance(_paris(HOLIDAY, 10) - clock.now())

    flagged = await crisis.http.post(
        "/risk-flags",
        json={
            "client_id": str(uuid.uuid4()),
            "site_id": center.site_id,
            "level": "high",
            "source": "integration",
        },
    )
    assert flagged.status_code == 202, flagged.text
    view = await crisis.http.get(f"/alerts/{flagged.json()['alert_id']}")

    assert [p["staff_id"] for p in view.json()["pages"]] == [center.holiday]


async def test_a_list_changed_back_then_a_late_one_keeps_the_list_changed_back(
    crisis: RunningCrisis, database_url: str, bus: Bus
) -> None:
    """booking closes the 6th, reopens it, then closes it again; the reopening arrives last (a
    redriven dead letter): the site is closed on the 6th, as booking says. The third list is
    the first again, but it is newer than the late one, which must not win. (Last in the
    module: its site would count in the rebuild test's.)"""
    site = uuid.uuid4()
    closed = [ClosedSpan(from_=HOLIDAY, to=HOLIDAY, kind="public_holiday")]
    for closures, hours in ((closed, 0), (closed, 2), ([], 1)):
        changed = SiteClosuresChanged(site_id=site, closures=closures)
        sent = await bus.publish(changed, source="booking", time=NOW + timedelta(hours=hours))
        await _handled_soon(database_url, sent)

    recorded = await _recorded(database_url, str(site))
    assert recorded[-1]["closures"] == [
        {"from": HOLIDAY.isoformat(), "to": HOLIDAY.isoformat(), "kind": "public_holiday"}
    ]


async def _handled_soon(database_url: str, event_id: UUID) -> None:
    async def handled() -> bool:
        return await _handled(database_url, event_id)

    await eventually(handled)


async def test_a_restriction_with_unknown_days_is_a_422_naming_the_field(
    crisis: RunningCrisis, center: Center
) -> None:
    for days in ("holiday", None, 3):
        layer = {
            "rotation": {"kind": "daily", "handoff": "09:00", "start_on": "2030-01-01"},
            "participants": [center.base],
            "restrictions": [
                {"weekdays": [1], "from": "09:00", "to": "17:00", "days": "open"},
                {"weekdays": [2], "from": "09:00", "to": "17:00", "days": days},
            ],
        }
        answer = await crisis.http.post(
            "/schedules", json={"site_id": center.site_id, "name": "Bad", "layers": [layer]}
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in answer.json()["errors"]]
        assert fields == ["layers.0.restrictions.1.days"], answer.text
