"""Escalation deadlines are rows: a restart (or a second replica) neither loses nor doubles one."""

import asyncio
from uuid import UUID, uuid4

import pytest

from tests.crisis.integration.harness import (
    Bus,
    crisis_settings,
    eventually,
    pages,
    running_crisis,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff

pytestmark = pytest.mark.integration


async def test_a_restart_mid_escalation_neither_loses_nor_doubles_the_next_step(
    database_url: str, nats_url: str, bus: Bus
) -> None:
    settings = crisis_settings(database_url, nats_url)
    site, client = uuid4(), uuid4()

    async with running_crisis(settings) as before:  # declares the streams
        first, second, third = await register_staff(bus, site, 3)
        await put_policy(
            before, site, [([first], "PT2S"), ([second], "PT1S"), ([third], "PT30S")], repeat=0
        )
        alert_id = (await flag(before, site, client))["alert_id"]
        await eventually(lambda: _paged(bus, site, alert_id, levels=1))

    # Down while level 1's deadline passes: nobody can escalate, nothing may be forgotten.
    await asyncio.sleep(2.3)
    assert [p["level"] for p in pages(await bus.crisis_events(site), alert_id)] == [1]

    # Two replicas come back at once; both run the scheduler on the same database.
    async with running_crisis(settings) as restarted, running_crisis(settings):
        await eventually(lambda: _paged(bus, site, alert_id, levels=3), timeout=6)
        await asyncio.sleep(0.5)  # room for a doubled page to show up
        view = await alert(restarted, alert_id)
        async with restarted.runtime.db().acquire() as conn:
            timers = await conn.fetch(
                """SELECT level, status FROM escalation_timers WHERE alert_id = $1
                   ORDER BY cycle, level""",
                UUID(alert_id),
            )

    paged = pages(await bus.crisis_events(site), alert_id)
    assert [(p["staff_id"], p["level"]) for p in paged] == [
        (str(first), 1),
        (str(second), 2),
        (str(third), 3),
    ]
    assert kinds(view).count("escalated") == 2
    assert view["current_level"] == 3
    assert [tuple(t) for t in timers] == [(1, "fired"), (2, "fired"), (3, "scheduled")]


async def _paged(bus: Bus, site: UUID, alert_id: str, levels: int) -> bool:
    found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
    return len({p["level"] for p in found}) >= levels
