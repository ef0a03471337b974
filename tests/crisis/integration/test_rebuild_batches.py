"""A rebuild writing its rows in batches gives back exactly the live rows, with many aggregates
of every kind and batches smaller than a kind (a lost override or page, a page's deliveries
folded otherwise than the live updates do, a flag without its alert or a timer not reconciled
would show); it appends and publishes nothing, and wakes the schedulers once, for the earliest
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.db import connect
from counseling_shared.events import NotificationFailed, NotificationSent
from crisis.adapters import swaps, timers
from crisis.application.rebuild import rebuild_projections
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff
from tests.crisis.integration.test_rebuild import site_closures, swap_requests
from tests.projections import rebuild_in_small_batches, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]

SITES = 3


async def _schedule(crisis: RunningCrisis, site: UUID, staff: list[UUID]) -> str:
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
    return schedule_id


async def _paged(crisis: RunningCrisis, alert_id: str) -> dict[str, Any]:
    view = await alert(crisis, alert_id)
    return view if view["pages"] else {}


async def _site(crisis: RunningCrisis, bus: Bus, clock: ControllableClock) -> None:
    """A policy, a schedule with swap requests (taken, cancelled, open); an alert paged,
    delivered twice and then failed on a third channel, one acknowledged, one joined by a
    second flag; a flag too low to open one; the site's closures, changed once."""
    site = uuid4()
    first, second = await register_staff(bus, site, 2)
    await site_closures(crisis, bus, site)
    await swap_requests(crisis, await _schedule(crisis, site, [first, second]), clock)
    await put_policy(crisis, site, [([first], "PT10M"), ([second], "PT10M")])
    delivered = (await flag(crisis, site, uuid4()))["alert_id"]
    acknowledged = (await flag(crisis, site, uuid4()))["alert_id"]
    joined = uuid4()
    assert (await flag(crisis, site, joined, level="moderate"))["alert_id"] is not None
    await flag(crisis, site, joined, level="imminent")
    assert (await flag(crisis, site, uuid4(), level="low"))["alert_id"] is None
    [page] = (await eventually(lambda: _paged(crisis, delivered)))["pages"]
    # The page's row keeps the first delivery and the first failure (each dated by its
    # envelope): a rebuild keeping the last, or dropping the failure, differs from it.
    for kind, channel in (
        (NotificationSent, NotificationChannel.SMS),
        (NotificationSent, NotificationChannel.EMAIL),
        (NotificationFailed, NotificationChannel.SMS),
    ):
        delivery = kind(
            notification_id=uuid4(),
            recipient_id=UUID(page["staff_id"]),
            site_id=site,
            channel=channel,
            template="crisis_page",
            cause_event_id=uuid4(),
            attempts=1,
            page_id=UUID(page["page_id"]),
        )
        await bus.publish(delivery, source="notify")
        await asyncio.sleep(0.01)  # the next envelope is dated later

    async def delivered_page() -> bool:
        steps = kinds(await alert(crisis, delivered))
        return steps.count("page_sent") == 2 and "page_failed" in steps

    await eventually(delivered_page)
    answer = await crisis.http.post(f"/alerts/{acknowledged}/ack", json={"staff_id": str(first)})
    assert answer.status_code == 200, answer.text


async def test_a_rebuild_in_small_batches_of_many_aggregates_equals_the_live_projection(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock, database_url: str
) -> None:
    for _ in range(SITES):
        clock.advance(timedelta(seconds=1))  # each site's deadlines a second later
        await _site(crisis, bus, clock)
    live = await snapshot(database_url)
    assert len(live["schedule_overrides"]) == 3 * SITES  # two, and a swap's take
    assert len(live["alerts"]) == 3 * SITES
    assert {r["status"] for r in live["escalation_timers"]} == {"scheduled", "cancelled"}
    delivered = [p for p in live["alert_pages"] if p["sent_at"] and p["failed_at"]]
    assert len(delivered) == SITES
    assert all(p["sent_at"] < p["failed_at"] for p in delivered)
    stored = await _backbone_counts(database_url)
    async with (
        _woken(database_url, timers.CHANNEL) as wakes,
        _woken(database_url, swaps.CHANNEL) as swap_wakes,
    ):
        counts = await rebuild_in_small_batches(database_url, rebuild_projections, clock=clock)

    assert await snapshot(database_url) == live
    assert min(counts.values()) >= SITES, counts
    # Nothing appended or published again (no page, no escalation sent twice).
    assert await _backbone_counts(database_url) == stored
    # One wake, for the earliest deadline: a scheduler set to wake sooner stays asleep.
    deadlines = [r["due_at"] for r in live["escalation_timers"] if r["status"] == "scheduled"]
    assert len(set(deadlines)) == SITES
    assert [datetime.fromisoformat(w) for w in wakes] == [min(deadlines)]
    # And one for the earliest open swap request's expiry (its row is its timer).
    expiries = [r["due_at"] for r in live["shift_swap_requests"] if r["status"] == "open"]
    assert len(expiries) == SITES
    assert [datetime.fromisoformat(w) for w in swap_wakes] == [min(expiries)]


async def _backbone_counts(database_url: str) -> dict[str, int]:
    conn = await connect(database_url)
    try:
        tables = ("events", "outbox")
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
    finally:
        await conn.close()


@asynccontextmanager
async def _woken(database_url: str, channel: str) -> AsyncIterator[list[str]]:
    """The payloads of a scheduler's wake-ups sent meanwhile on `channel`."""
    payloads: list[str] = []
    conn = await connect(database_url)

    def heard(*args: Any) -> None:  # (connection, pid, channel, payload)
        payloads.append(args[3])

    await conn.add_listener(channel, heard)
    try:
        yield payloads
        await asyncio.sleep(0.2)  # a notification is delivered after the commit
    finally:
        await conn.remove_listener(channel, heard)
        await conn.close()
