"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost override or page, a page update run before
its insert, a flag linked before it exists or a timer not reconciled would show)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.events import NotificationSent
from crisis.application.rebuild import rebuild_projections
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    crisis_settings,
    eventually,
    running_crisis,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff
from tests.projections import rebuild_in_small_batches, snapshot

pytestmark = pytest.mark.integration

SITES = 3


@pytest.fixture(scope="module")
def clock() -> ControllableClock:
    return ControllableClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
async def crisis(
    database_url: str, nats_url: str, clock: ControllableClock
) -> AsyncIterator[RunningCrisis]:
    async with running_crisis(crisis_settings(database_url, nats_url), clock) as running:
        yield running


async def _schedule(crisis: RunningCrisis, site: UUID, staff: list[UUID]) -> None:
    """A schedule with two overrides."""
    layer = {
        "rotation": {
            "kind": "custom",
            "every": "PT12H",
            "handoff": "08:00",
            "start_on": "2026-01-01",
        },
        "participants": [str(s) for s in staff],
    }
    body = {"site_id": str(site), "name": "Line", "timezone": "UTC", "layers": [layer]}

    async def created() -> str | None:
        answer = await crisis.http.post("/schedules", json=body)
        return str(answer.json()["schedule_id"]) if answer.status_code == 201 else None

    schedule_id = await eventually(created, timeout=10)
    for day in (1, 2):
        answer = await crisis.http.post(
            f"/schedules/{schedule_id}/overrides",
            json={
                "staff_id": str(staff[1]),
                "replaces": str(staff[0]),
                "start": f"2026-03-0{day}T00:00:00Z",
                "end": f"2026-03-0{day}T12:00:00Z",
            },
        )
        assert answer.status_code == 201, answer.text


async def _paged(crisis: RunningCrisis, alert_id: str) -> dict[str, Any]:
    view = await alert(crisis, alert_id)
    return view if view["pages"] else {}


async def _site(crisis: RunningCrisis, bus: Bus) -> None:
    """A policy, a schedule; an alert paged and delivered, one acknowledged, one joined by a
    second flag; a flag too low to open one."""
    site = uuid4()
    first, second = await register_staff(bus, site, 2)
    await _schedule(crisis, site, [first, second])
    await put_policy(crisis, site, [([first], "PT10M"), ([second], "PT10M")])
    delivered = (await flag(crisis, site, uuid4()))["alert_id"]
    acknowledged = (await flag(crisis, site, uuid4()))["alert_id"]
    joined = uuid4()
    assert (await flag(crisis, site, joined, level="moderate"))["alert_id"] is not None
    await flag(crisis, site, joined, level="imminent")
    assert (await flag(crisis, site, uuid4(), level="low"))["alert_id"] is None
    [page] = (await eventually(lambda: _paged(crisis, delivered)))["pages"]
    sent = NotificationSent(
        notification_id=uuid4(),
        recipient_id=UUID(page["staff_id"]),
        site_id=site,
        channel=NotificationChannel.SMS,
        template="crisis_page",
        cause_event_id=uuid4(),
        attempts=1,
        page_id=UUID(page["page_id"]),
    )
    await bus.publish(sent, source="notify")

    async def delivered_page() -> bool:
        return "page_sent" in kinds(await alert(crisis, delivered))

    await eventually(delivered_page)
    answer = await crisis.http.post(f"/alerts/{acknowledged}/ack", json={"staff_id": str(first)})
    assert answer.status_code == 200, answer.text


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock, database_url: str
) -> None:
    for _ in range(SITES):
        await _site(crisis, bus)
    live = await snapshot(database_url)
    assert len(live["schedule_overrides"]) == 2 * SITES
    assert len(live["alerts"]) == 3 * SITES
    assert {r["status"] for r in live["escalation_timers"]} == {"scheduled", "cancelled"}
    counts = await rebuild_in_small_batches(database_url, rebuild_projections, clock=clock)

    assert await snapshot(database_url) == live
    assert min(counts.values()) >= SITES, counts
