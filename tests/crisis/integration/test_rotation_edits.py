"""PUT /schedules/{id} with `apply_from`: over HTTP, with crisis's clock held mid-shift."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
from icalendar import Calendar

from counseling_shared.clock import ControllableClock
from counseling_shared.unit_of_work import unit_of_work
from crisis.application.schedules import on_call_now
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
)
from tests.crisis.integration.steps import staff_registered
from tests.crisis.integration.test_schedules import (
    post_schedule,
    register_known_staff,
    register_site,
    weekly_layer,
)

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday: A's weekly turn since 03-02


@pytest.fixture(scope="module")
def clock() -> ControllableClock:
    return ControllableClock(NOW)


async def _named_staff(crisis: RunningCrisis, bus: Bus, site: UUID, *names: str) -> list[UUID]:
    """Staff with these names (the calendar feed names who is on call), once crisis knows them."""
    staff = [uuid4() for _ in names]
    for staff_id, name in zip(staff, names, strict=True):
        registered = staff_registered(staff_id, site)
        await bus.publish(registered.model_copy(update={"name": name}), source="booking")

    async def all_known() -> bool:
        async with crisis.runtime.db().acquire() as conn:
            known = await conn.fetchval(
                "SELECT count(*) FROM staff WHERE staff_id = ANY($1)", staff
            )
        return bool(known == len(staff))

    await eventually(all_known, timeout=10)
    return staff


async def _put(crisis: RunningCrisis, schedule_id: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await crisis.http.put(f"/schedules/{schedule_id}", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _on_call_now(crisis: RunningCrisis, schedule_id: str) -> list[str]:
    answer = await crisis.http.get(f"/schedules/{schedule_id}/oncall")
    assert answer.status_code == 200, answer.text
    staff: list[str] = answer.json()["staff_ids"]
    return staff


@pytest.mark.parametrize(("apply_from", "kept"), [("next_handoff", True), (None, False)])
async def test_a_participant_added_mid_shift_replaces_no_one_with_next_handoff(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock, apply_from: str | None, kept: bool
) -> None:
    clock.set(NOW)
    site = await register_site(bus)
    a, b, c = await _named_staff(crisis, bus, site, "Alex Martin", "Bea Kim", "Cyd Roy")
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]
    assert await _on_call_now(crisis, schedule_id) == [str(a)]

    body: dict[str, Any] = {
        "site_id": str(site),
        "name": "Crisis line",
        "layers": [weekly_layer(a, c, b)],
    }
    if apply_from:
        body["apply_from"] = apply_from
    edited = await _put(crisis, schedule_id, body)

    now = [str(a)] if kept else [str(c)]
    assert await _on_call_now(crisis, schedule_id) == now
    runtime = crisis.runtime
    async with unit_of_work(runtime.db(), source="crisis", clock=runtime.clock) as uow:
        paged = await on_call_now(uow, [UUID(schedule_id)])
    assert [str(s) for s in paged[UUID(schedule_id)]] == now  # whom a level naming it pages
    shifts = (
        await crisis.http.get(
            f"/schedules/{schedule_id}/shifts",
            params={"from": "2026-03-04T15:00:00Z", "to": "2026-03-16T00:00:00Z"},
        )
    ).json()
    handoff = "2026-03-09T13:00:00Z"  # Monday 09:00 EDT
    assert [[s["staff_id"], s["start"], s["end"]] for s in shifts] == [
        [now[0], "2026-03-04T15:00:00Z", handoff],
        [str(b), handoff, "2026-03-16T00:00:00Z"],
    ]
    running = edited["running_layers"]
    assert [(r["layer"], r["until"]) for r in running] == ([(1, handoff)] if kept else [])
    assert (await crisis.http.get(f"/schedules/{schedule_id}")).json()["running_layers"] == running
    clock.set(datetime.fromisoformat(handoff))  # the kept shift has ended: no longer shown
    assert (await crisis.http.get(f"/schedules/{schedule_id}")).json()["running_layers"] == []
    assert await _on_call_now(crisis, schedule_id) == [str(b)]
    clock.set(NOW)

    url = (await crisis.http.get(f"/schedules/{schedule_id}/calendar-url")).json()["url"]
    parts = urlsplit(url)
    feed = await crisis.http.get(f"{parts.path}?{parts.query}")
    assert feed.status_code == 200, feed.text
    events = sorted(
        (
            (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"]))
            for e in Calendar.from_ical(feed.content).walk("VEVENT")
        ),
        key=lambda e: e[0],
    )
    assert [(summary, end) for _, end, summary in events[:2]] == [
        ("On call: Alex Martin" if kept else "On call: Cyd Roy", datetime.fromisoformat(handoff)),
        ("On call: Bea Kim", datetime(2026, 3, 16, 13, 0, tzinfo=UTC)),
    ]


async def test_apply_from_is_put_only_and_checked(crisis: RunningCrisis, bus: Bus) -> None:
    site = await register_site(bus)
    (a,) = await register_known_staff(crisis, bus, site, 1)
    assert (await post_schedule(crisis, site, [weekly_layer(a)]))["running_layers"] == []
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a)]))["schedule_id"]
    body = {"site_id": str(site), "name": "x", "layers": [weekly_layer(a)], "apply_from": "later"}
    assert (await crisis.http.put(f"/schedules/{schedule_id}", json=body)).status_code == 422


async def test_an_edit_from_an_instant_keeps_the_old_layers_until_then(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    """Mid-turn on both sides: A's week (old layer) stands until Friday noon, then C's week
    (the new layer's turn at that instant) runs from there to Monday's handoff."""
    clock.set(NOW)
    site = await register_site(bus)
    a, b, c = await _named_staff(crisis, bus, site, "Alex Martin", "Bea Kim", "Cyd Roy")
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]
    instant = "2026-03-06T12:00:00Z"

    edited = await _put(
        crisis,
        schedule_id,
        {
            "site_id": str(site),
            "name": "Crisis line",
            "layers": [weekly_layer(c, b)],
            "apply_from": "2026-03-06T07:00:00-05:00",  # the same instant, in New York
        },
    )

    assert [(r["layer"], r["until"]) for r in edited["running_layers"]] == [(1, instant)]
    assert edited["running_layers"][0]["running"]["participants"] == [str(a), str(b)]
    assert await _on_call_now(crisis, schedule_id) == [str(a)]
    shifts = (
        await crisis.http.get(
            f"/schedules/{schedule_id}/shifts",
            params={"from": "2026-03-04T15:00:00Z", "to": "2026-03-16T00:00:00Z"},
        )
    ).json()
    handoff = "2026-03-09T13:00:00Z"  # Monday 09:00 EDT
    assert [[s["staff_id"], s["start"], s["end"]] for s in shifts] == [
        [str(a), "2026-03-04T15:00:00Z", instant],
        [str(c), instant, handoff],
        [str(b), handoff, "2026-03-16T00:00:00Z"],
    ]
    url = (await crisis.http.get(f"/schedules/{schedule_id}/calendar-url")).json()["url"]
    parts = urlsplit(url)
    feed = await crisis.http.get(f"{parts.path}?{parts.query}")
    assert feed.status_code == 200, feed.text
    events = sorted(
        (
            (e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"]))
            for e in Calendar.from_ical(feed.content).walk("VEVENT")
        ),
        key=lambda e: e[0],
    )
    at = datetime.fromisoformat(instant)
    shown = [(summary, start, end) for start, end, summary in events]
    assert ("On call: Alex Martin", NOW, at) in shown  # the feed starts now
    assert ("On call: Cyd Roy", at, datetime.fromisoformat(handoff)) in shown

    clock.set(at - timedelta(seconds=1))
    assert await _on_call_now(crisis, schedule_id) == [str(a)]
    clock.set(at)  # the edit applies: the new layer's turn, mid-week
    assert await _on_call_now(crisis, schedule_id) == [str(c)]
    assert (await crisis.http.get(f"/schedules/{schedule_id}")).json()["running_layers"] == []
    clock.set(NOW)


@pytest.mark.parametrize(
    ("apply_from", "why"),
    [
        ("2026-03-04T14:59:59Z", "an instant must be in the future"),
        ("2027-03-05T16:00:00Z", "an instant at most a year ahead"),
    ],
)
async def test_an_edits_instant_is_in_the_future_and_within_a_year(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock, apply_from: str, why: str
) -> None:
    clock.set(NOW)
    site = await register_site(bus)
    (a,) = await register_known_staff(crisis, bus, site, 1)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a)]))["schedule_id"]
    body = {"site_id": str(site), "name": "x", "layers": [weekly_layer(a)]}

    answer = await crisis.http.put(
        f"/schedules/{schedule_id}", json={**body, "apply_from": apply_from}
    )
    no_offset = await crisis.http.put(
        f"/schedules/{schedule_id}", json={**body, "apply_from": "2026-03-06T12:00:00"}
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "apply_from", "message": why}]
    assert no_offset.status_code == 422, no_offset.text
    assert {e["field"] for e in no_offset.json()["errors"]} == {"apply_from"}
