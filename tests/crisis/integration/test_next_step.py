"""Every open alert has a next step: fallback staff when the chain is exhausted, paging as soon
as a policy is set, and the auditor repairing an alert whose deadline was lost."""

import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from crisis.adapters import policies
from crisis.adapters.policies import SitePolicy
from crisis.domain.durations import parse_duration
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    """crisis with an auditor that looks every 0.3 s."""
    async with start_crisis(CRISIS_AUDIT_INTERVAL=0.3) as running:
        yield running


async def test_an_exhausted_chain_pages_the_fallback_staff_and_the_alert_stays_open(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    on_call, fallback = await register_staff(bus, site, 2)
    stored = await put_policy(crisis, site, [([on_call], "PT1S")], repeat=0, fallback=[fallback])
    assert stored["fallback_staff_ids"] == [str(fallback)]
    alert_id = (await flag(crisis, site, client))["alert_id"]

    view = await eventually(lambda: _exhausted(crisis, alert_id), timeout=20)

    assert view["status"] == "open"
    assert view["policy"]["fallback_staff_ids"] == [str(fallback)]
    assert kinds(view)[-2:] == ["exhausted", "page_requested"]
    assert [(p["staff_id"], p["level"]) for p in view["pages"]] == [
        (str(on_call), 1),
        (str(fallback), 2),
    ]
    exhausted = await eventually(lambda: bus.crisis_events(site, "AlertExhausted"))
    assert [(e.data["alert_id"], e.data["current_level"]) for e in exhausted] == [(alert_id, 1)]
    paged = await eventually(lambda: _pages_when(bus, site, alert_id, 2))
    assert paged[-1]["staff_id"] == str(fallback)
    assert await _scheduled_deadlines(crisis, alert_id) == []  # exhausted: nothing further


async def test_an_alert_opened_without_a_policy_is_paged_when_the_policy_is_set(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    alert_id = (await flag(crisis, site, client))["alert_id"]
    assert (await alert(crisis, alert_id))["current_level"] == 0
    (on_call,) = await register_staff(bus, site, 1)

    await put_policy(crisis, site, [([on_call], "PT5M")])

    view = await alert(crisis, alert_id)  # paged in the PUT's own transaction
    assert kinds(view)[-2:] == ["policy_adopted", "page_requested"]
    assert [(p["staff_id"], p["level"]) for p in view["pages"]] == [(str(on_call), 1)]
    assert view["escalation_due_at"] is not None
    assert await _scheduled_deadlines(crisis, alert_id) == [(0, 1)]
    paged = await eventually(lambda: _pages_when(bus, site, alert_id, 1))
    assert paged[0]["staff_id"] == str(on_call)


async def test_the_auditor_restores_a_lost_deadline_and_the_escalation_proceeds(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first, second = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([first], "PT3S"), ([second], "PT5M")])
    before = _repairs((await crisis.http.get("/metrics")).text, "deadline_missing")
    alert_id = (await flag(crisis, site, client))["alert_id"]

    async with crisis.runtime.db().acquire() as conn:
        deleted = await conn.execute(
            "DELETE FROM escalation_timers WHERE alert_id = $1", UUID(alert_id)
        )
    assert deleted == "DELETE 1"

    await eventually(lambda: _scheduled_deadlines(crisis, alert_id), timeout=10)
    paged = await eventually(lambda: _pages_when(bus, site, alert_id, 2), timeout=20)
    assert [(p["staff_id"], p["level"]) for p in paged] == [(str(first), 1), (str(second), 2)]
    assert _repairs((await crisis.http.get("/metrics")).text, "deadline_missing") >= before + 1


async def test_the_auditor_pages_an_alert_whose_site_got_a_policy_without_paging_it(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    alert_id = (await flag(crisis, site, client))["alert_id"]
    (on_call,) = await register_staff(bus, site, 1)
    policy = EscalationPolicy((PolicyLevel((on_call,), parse_duration("PT5M")),))
    async with crisis.runtime.db().acquire() as conn:  # as if the PUT had skipped the alerts
        await policies.save(conn, SitePolicy(site, policy, 1, crisis.runtime.clock.now()))

    paged = await eventually(lambda: _pages_when(bus, site, alert_id, 1), timeout=10)

    assert paged[0]["staff_id"] == str(on_call)
    assert "policy_adopted" in kinds(await alert(crisis, alert_id))
    assert _repairs((await crisis.http.get("/metrics")).text, "policy_not_paged") >= 1


async def _exhausted(crisis: RunningCrisis, alert_id: str) -> dict[str, Any] | None:
    view = await alert(crisis, alert_id)
    return view if view["exhausted"] else None


async def _pages_when(
    bus: Bus, site: UUID, alert_id: str, count: int
) -> list[dict[str, Any]] | None:
    found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
    return found if len(found) >= count else None


async def _scheduled_deadlines(crisis: RunningCrisis, alert_id: str) -> list[tuple[int, int]]:
    async with crisis.runtime.db().acquire() as conn:
        rows = await conn.fetch(
            """SELECT cycle, level FROM escalation_timers
               WHERE alert_id = $1 AND status = 'scheduled'""",
            UUID(alert_id),
        )
    return [(r["cycle"], r["level"]) for r in rows]


def _repairs(metrics: str, reason: str) -> float:
    pattern = rf'^crisis_alerts_without_next_step_total\{{reason="{reason}"\}} (\S+)$'
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
