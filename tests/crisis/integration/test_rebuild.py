"""Rebuilding crisis's projections from its event store gives back exactly the live rows, and
every pending escalation deadline still fires on time afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.db import connect
from counseling_shared.events import (
    ClosedSpan,
    NotificationFailed,
    NotificationSent,
    SiteClosuresChanged,
)
from crisis.application.rebuild import rebuild_projections
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff
from tests.opsctl.integration.support import counselctl
from tests.projections import snapshot

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]

ACK_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Story:
    escalating: str  # paged, delivered and failed, escalated to level 2, joined by a second flag
    acknowledged: str
    resolved: str
    adopted: str  # opened before its site had a policy, paging since the next flag
    schedule: str  # redefined once (from the next handoff), one override kept and one removed
    swaps: list[str]  # shift swap requests of the schedule: taken, cancelled, open


def delivery(
    kind: type[NotificationSent], page: dict[str, Any], site_id: UUID, attempts: int = 1
) -> NotificationSent:
    return kind(
        notification_id=uuid4(),
        recipient_id=UUID(page["staff_id"]),
        site_id=site_id,
        channel=NotificationChannel.SMS,
        template="crisis_page",
        cause_event_id=uuid4(),
        attempts=attempts,
        page_id=UUID(page["page_id"]),
    )


async def with_kinds(crisis: RunningCrisis, alert_id: str, wanted: set[str]) -> dict[str, Any]:
    view = await alert(crisis, alert_id)
    return view if wanted <= set(kinds(view)) else {}


async def repaged(crisis: RunningCrisis, alert_id: str, cycle: int) -> dict[str, Any]:
    view = await with_kinds(crisis, alert_id, {"chain_repeated"})
    return view if any(p["cycle"] == cycle for p in view.get("pages", [])) else {}


@pytest.fixture(scope="module")
async def story(crisis: RunningCrisis, bus: Bus, clock: ControllableClock) -> Story:
    site, late_site = uuid4(), uuid4()
    first, second, third = await register_staff(bus, site, 3)
    (late_staff,) = await register_staff(bus, late_site, 1)
    timeout = "PT10M"
    schedule = await _schedule_with_overrides(crisis, site, [first, second, third])
    await site_closures(crisis, bus, site)
    swaps = await swap_requests(crisis, schedule, clock)
    await put_policy(crisis, site, [([first], timeout), ([second, third], timeout)])

    escalating = (await flag(crisis, site, uuid4(), level="moderate"))["alert_id"]
    acknowledged = (await flag(crisis, site, uuid4()))["alert_id"]
    resolved = (await flag(crisis, site, uuid4()))["alert_id"]
    assert (await flag(crisis, site, uuid4(), level="low"))["alert_id"] is None
    adopted_client = uuid4()
    adopted = (await flag(crisis, late_site, adopted_client))["alert_id"]

    ack = await crisis.http.post(f"/alerts/{acknowledged}/ack", json={"staff_id": str(first)})
    assert ack.status_code == 200, ack.text
    answer = await crisis.http.post(
        f"/alerts/{resolved}/resolve", json={"staff_id": str(first), "outcome": "safety_plan"}
    )
    assert answer.status_code == 200, answer.text
    [page] = (await alert(crisis, escalating))["pages"]
    await bus.publish(delivery(NotificationSent, page, site), source="notify")
    await eventually(lambda: with_kinds(crisis, escalating, {"page_sent"}))

    clock.advance(ACK_TIMEOUT + timedelta(seconds=1))  # level 1 missed its deadline
    view = await eventually(lambda: with_kinds(crisis, escalating, {"escalated"}), timeout=10)
    failing = next(p for p in view["pages"] if p["level"] == 2)
    await bus.publish(delivery(NotificationFailed, failing, site, attempts=5), source="notify")
    await eventually(lambda: with_kinds(crisis, escalating, {"page_failed"}))
    again = await flag(crisis, site, UUID(view["client_id"]), level="imminent")
    assert again["alert_id"] == escalating
    # Delivered after the ack: its last step is dated by notify, its row by crisis's clock.
    [late_page] = (await alert(crisis, acknowledged))["pages"]
    await bus.publish(delivery(NotificationSent, late_page, site), source="notify")
    await eventually(lambda: with_kinds(crisis, acknowledged, {"page_sent"}))

    await put_policy(crisis, late_site, [([late_staff], timeout)])
    assert (await flag(crisis, late_site, adopted_client))["alert_id"] == adopted
    await eventually(lambda: with_kinds(crisis, adopted, {"no_policy", "policy_adopted"}))
    return Story(escalating, acknowledged, resolved, adopted, schedule, swaps)


async def site_closures(crisis: RunningCrisis, bus: Bus, site: UUID) -> None:
    """booking's closures of the site, twice: crisis records both lists (its own stream)."""
    for last in (date(2026, 12, 25), date(2026, 12, 26)):
        span = ClosedSpan(from_=date(2026, 12, 25), to=last, kind="public_holiday")
        await bus.publish(SiteClosuresChanged(site_id=site, closures=[span]), source="booking")

    async def recorded() -> bool:
        async with crisis.runtime.db().acquire() as conn:
            version = await conn.fetchval(
                "SELECT version FROM site_closures WHERE site_id = $1", site
            )
        return bool(version == 2)

    await eventually(recorded)


async def _schedule_with_overrides(crisis: RunningCrisis, site: UUID, staff: list[UUID]) -> str:
    layer = {
        "rotation": {
            "kind": "custom",
            "every": "PT12H",
            "handoff": "08:00",
            "start_on": "2026-01-01",
        },
        "participants": [str(s) for s in staff[:2]],
    }
    body = {"site_id": str(site), "name": "Line", "timezone": "Europe/Paris", "layers": [layer]}

    async def created() -> str | None:
        answer = await crisis.http.post("/schedules", json=body)
        return str(answer.json()["schedule_id"]) if answer.status_code == 201 else None

    schedule_id = await eventually(created, timeout=10)
    # Redefined mid-turn from the next handoff: the layer kept running is projected too.
    grown = {**layer, "participants": [str(s) for s in staff]}
    redefined = await crisis.http.put(
        f"/schedules/{schedule_id}",
        json={**body, "name": "Nights", "layers": [grown], "apply_from": "next_handoff"},
    )
    assert redefined.status_code == 200, redefined.text
    override_ids = []
    for replaces in (str(staff[0]), None):
        answer = await crisis.http.post(
            f"/schedules/{schedule_id}/overrides",
            json={
                "staff_id": str(staff[2]),
                "replaces": replaces,
                "start": "2026-03-01T00:00:00Z",
                "end": "2026-03-02T00:00:00Z",
            },
        )
        assert answer.status_code == 201, answer.text
        override_ids.append(answer.json()["override_id"])
    removed = await crisis.http.delete(f"/schedules/{schedule_id}/overrides/{override_ids[1]}")
    assert removed.status_code == 204
    return schedule_id


async def swap_requests(
    crisis: RunningCrisis, schedule_id: str, clock: ControllableClock
) -> list[str]:
    """Three of the schedule's next shifts offered: one taken (its override joins the
    schedule's), one cancelled, one left open (its row is also its expiry timer)."""
    start = clock.now() + timedelta(days=2)
    answer = await crisis.http.get(
        f"/schedules/{schedule_id}/shifts",
        params={"from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat()},
    )
    assert answer.status_code == 200, answer.text
    shifts = [s for s in answer.json() if s["start"] > start.isoformat()][:3]
    swap_ids = []
    for shift in shifts:
        asked = await crisis.http.post(
            f"/schedules/{schedule_id}/swap-requests",
            json={"start": shift["start"], "end": shift["end"], "requester_id": shift["staff_id"]},
        )
        assert asked.status_code == 201, asked.text
        swap_ids.append(asked.json()["id"])
    taker = next(s for s in answer.json() if s["staff_id"] != shifts[0]["staff_id"])["staff_id"]
    taken = await crisis.http.post(f"/swap-requests/{swap_ids[0]}/accept", json={"staff_id": taker})
    assert taken.status_code == 200, taken.text
    cancelled = await crisis.http.post(f"/swap-requests/{swap_ids[1]}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    return swap_ids


async def scheduled_deadlines(database_url: str) -> dict[str, tuple[UUID, int, int, datetime]]:
    conn = await connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT id, alert_id, cycle, level, due_at FROM escalation_timers
               WHERE status = 'scheduled'"""
        )
    finally:
        await conn.close()
    return {str(r["alert_id"]): (r["id"], r["cycle"], r["level"], r["due_at"]) for r in rows}


async def test_a_rebuilt_crisis_projection_equals_the_live_one_and_deadlines_still_fire(
    story: Story, crisis: RunningCrisis, clock: ControllableClock, database_url: str
) -> None:
    live = await snapshot(database_url)
    assert {r["status"] for r in live["alerts"]} == {"open", "acknowledged", "resolved"}
    assert {r["status"] for r in live["escalation_timers"]} == {"scheduled", "fired", "cancelled"}
    # Each deadline keeps the trace that scheduled it: the comparison below checks it survives.
    assert all(r["trace_headers"] for r in live["escalation_timers"])
    assert {r["kind"] for r in live["alert_timeline"]} >= {
        "page_sent",
        "page_failed",
        "escalated",
        "level_raised",
        "no_policy",
        "policy_adopted",
        "acknowledged",
        "resolved",
    }
    assert None in {r["alert_id"] for r in live["risk_flags"]}  # the low one opened nothing
    pending = await scheduled_deadlines(database_url)
    assert set(pending) == {story.escalating, story.adopted}
    calls: list[tuple[int, int]] = []

    conn = await connect(database_url)
    try:
        counts = await rebuild_projections(
            conn, progress=lambda *call: calls.append(call), clock=clock
        )
    finally:
        await conn.close()

    assert await snapshot(database_url) == live
    assert len(live["schedule_overrides"]) == 2  # one kept, one a swap's take added
    assert sorted(r["status"] for r in live["shift_swap_requests"]) == [
        "cancelled",
        "open",
        "taken",
    ]
    assert [r["running_layers"] != "[]" for r in live["schedules"]] == [True]
    assert len(live["site_closures"]) == 1
    assert counts == {
        "site_closures": 1,
        "schedule": 1,
        "shift_swap": 3,
        "escalation_policy": 2,
        "risk_flag": len(live["risk_flags"]),
        "alert": len(live["alerts"]),
    }
    assert calls[-1] == (sum(counts.values()), sum(counts.values()))
    # The escalating alert's level-2 deadline, kept through the rebuild, still fires: the chain
    # repeats at level 1.
    clock.advance(ACK_TIMEOUT)
    view = await eventually(lambda: with_kinds(crisis, story.escalating, {"chain_repeated"}))
    assert (view["current_level"], view["status"]) == (1, "open")
    # The adopted alert's only level ran out in the same advance, so its chain repeats too and
    # pages again. Wait for that page: the next test snapshots a projection nothing still writes.
    await eventually(lambda: repaged(crisis, story.adopted, cycle=1))
    conn = await connect(database_url)
    try:
        fired = await conn.fetchval(
            "SELECT status FROM escalation_timers WHERE id = $1", pending[story.escalating][0]
        )
    finally:
        await conn.close()
    assert fired == "fired"


async def test_counselctl_rebuild_repairs_a_damaged_crisis_projection(
    story: Story, crisis: RunningCrisis, clock: ControllableClock, database_url: str
) -> None:
    live = await snapshot(database_url)
    pending = await scheduled_deadlines(database_url)
    stray = uuid4()
    async with crisis.runtime.db().acquire() as conn:  # gone wrong behind the store's back
        await conn.execute("DELETE FROM escalation_timers WHERE id = $1", pending[story.adopted][0])
        await conn.execute(
            """INSERT INTO escalation_timers (id, alert_id, cycle, level, due_at, created_at)
               VALUES ($1, $2, 7, 1, $3, $3)""",
            stray,
            UUID(story.resolved),
            clock.now() + timedelta(days=1),
        )
        await conn.execute("DELETE FROM alert_timeline WHERE alert_id = $1", UUID(story.escalating))
        await conn.execute("UPDATE alert_pages SET sent_at = NULL")
        await conn.execute("UPDATE alerts SET status = 'open', current_level = 9")
        await conn.execute("UPDATE risk_flags SET alert_id = NULL")
        await conn.execute("DELETE FROM escalation_policies")
        await conn.execute("DELETE FROM schedule_overrides")
        await conn.execute("UPDATE schedules SET name = 'tampered', version = 99")
        await conn.execute("UPDATE site_closures SET closures = '[]', version = 7")
        await conn.execute("DELETE FROM shift_swap_requests WHERE id = $1", UUID(story.swaps[0]))
        await conn.execute("UPDATE shift_swap_requests SET status = 'expired', version = 9")
        await conn.execute("UPDATE sites SET timezone = 'UTC'")  # booking's, not ours
        await conn.execute("UPDATE staff SET role = 'counselor'")  # booking's, not ours
    damaged = await snapshot(database_url)

    answer = await counselctl(
        "rebuild", "--service", "crisis", "--database-url", database_url, "--json"
    )

    assert answer.json()["rebuilt"]["alert"] == len(live["alerts"])
    rebuilt = await snapshot(database_url)
    for table in (
        "alerts",
        "alert_pages",
        "alert_timeline",
        "risk_flags",
        "escalation_policies",
        "schedules",
        "schedule_overrides",
        "shift_swap_requests",
        "site_closures",
    ):
        assert rebuilt[table] == live[table], table
    assert rebuilt["staff"] == damaged["staff"]  # left as it was
    assert rebuilt["sites"] == damaged["sites"]
    # The lost deadline is scheduled again (a new row), the stray one cancelled, the rest kept.
    restored = await scheduled_deadlines(database_url)
    assert set(restored) == set(pending)
    assert restored[story.escalating] == pending[story.escalating]
    assert restored[story.adopted][1:] == pending[story.adopted][1:]
    timers = {r["id"]: r for r in rebuilt["escalation_timers"]}
    assert timers[stray]["status"] == "cancelled"
    kept = [r for r in live["escalation_timers"] if r["id"] != pending[story.adopted][0]]
    assert [r for r in rebuilt["escalation_timers"] if r["id"] in {k["id"] for k in kept}] == kept
    assert "rebuilding crisis" in answer.stderr
