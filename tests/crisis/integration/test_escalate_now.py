""" "Escalate now" against real PostgreSQL and NATS, on a clock the test moves: the next level
is paged at once, the old deadline never fires a second escalation, only a paged staff member
may ask, and `ESC <code>` by SMS goes the same way, answered in the member's language."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import (
    INBOUND_SMS_SECRET,
    NEW_LINK_KEY,
    alert,
    flag,
    kinds,
    put_policy,
    register_staff,
    sms_reply,
    staff_registered,
)

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
async def crisis(
    start_crisis: StartCrisis, clock: ControllableClock
) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(
        clock, LINK_SIGNING_KEY=NEW_LINK_KEY, INBOUND_SMS_SECRET=INBOUND_SMS_SECRET
    ) as running:
        yield running


async def escalate(crisis: RunningCrisis, alert_id: str, **body: Any) -> Any:
    return await crisis.http.post(
        f"/alerts/{alert_id}/escalate",
        json={k: str(v) if isinstance(v, UUID) else v for k, v in body.items()},
    )


async def timers(crisis: RunningCrisis, alert_id: str) -> list[tuple[Any, ...]]:
    async with crisis.runtime.db().acquire() as conn:
        rows = await conn.fetch(
            """SELECT cycle, level, status FROM escalation_timers WHERE alert_id = $1
               ORDER BY due_at, level""",
            UUID(alert_id),
        )
    return [tuple(r) for r in rows]


async def paged_staff(bus: Bus, site: UUID, alert_id: str) -> list[str]:
    return [p["staff_id"] for p in pages(await bus.crisis_events(site, "PageRequested"), alert_id)]


async def test_escalating_pages_the_next_level_now_and_the_old_deadline_never_fires_again(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    site, client = uuid4(), uuid4()
    first, second, third = await register_staff(bus, site, 3)
    await put_policy(crisis, site, [([first], "PT5M"), ([second], "PT5M"), ([third], "PT5M")], 0)
    opened_at = clock.now()
    alert_id = (await flag(crisis, site, client))["alert_id"]

    clock.advance(MINUTE)  # level 1 cannot take it, a minute in
    answer = await escalate(crisis, alert_id, staff_id=first, level=1, cycle=0)

    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["status"], view["current_level"]) == ("open", 2)
    assert kinds(view)[-3:] == ["escalated_by_staff", "escalated", "page_requested"]
    asked = view["timeline"][-3]
    assert (asked["staff_id"], asked["level"], asked["cycle"]) == (str(first), 1, 0)
    # level 2's own ack_timeout, from now: not what was left of level 1's
    assert datetime.fromisoformat(view["escalation_due_at"]) == clock.now() + 5 * MINUTE

    async def second_paged() -> bool:
        return await paged_staff(bus, site, alert_id) == [str(first), str(second)]

    await eventually(second_paged, timeout=10)
    escalated = [
        e.data
        for e in await bus.crisis_events(site, "AlertEscalated")
        if e.data["alert_id"] == alert_id
    ]
    assert [e["current_level"] for e in escalated] == [2]
    assert await timers(crisis, alert_id) == [(0, 1, "cancelled"), (0, 2, "scheduled")]

    # Level 1's old deadline passes: the schedulers (polling twice a second) find nothing due.
    clock.set(opened_at + 5 * MINUTE + timedelta(seconds=1))
    await asyncio.sleep(2)
    assert (await alert(crisis, alert_id))["current_level"] == 2
    assert await paged_staff(bus, site, alert_id) == [str(first), str(second)]
    # Level 2's deadline still escalates, once.
    clock.set(opened_at + MINUTE + 5 * MINUTE + timedelta(seconds=1))

    async def third_paged() -> bool:
        return await paged_staff(bus, site, alert_id) == [str(first), str(second), str(third)]

    await eventually(third_paged, timeout=10)
    assert await timers(crisis, alert_id) == [
        (0, 1, "cancelled"),
        (0, 2, "fired"),
        (0, 3, "scheduled"),
    ]


async def test_only_paged_staff_may_escalate_and_a_stale_level_escalates_nothing_more(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    site, client = uuid4(), uuid4()
    first, second, third = await register_staff(bus, site, 3)
    await put_policy(crisis, site, [([first], "PT5M"), ([second], "PT5M"), ([third], "PT5M")], 0)
    alert_id = (await flag(crisis, site, client))["alert_id"]

    never_paged = await escalate(crisis, alert_id, staff_id=second)
    assert never_paged.status_code == 403, never_paged.text
    assert never_paged.headers["content-type"].startswith("application/problem+json")
    assert (await escalate(crisis, alert_id, staff_id=first, level=1)).status_code == 200

    # the same tap again (a double tap): the alert already left level 1
    again = await escalate(crisis, alert_id, staff_id=first, level=1, cycle=0)
    assert again.status_code == 409, again.text
    assert again.json()["current_level"] == 2
    assert (await alert(crisis, alert_id))["current_level"] == 2
    # paged at level 1 is enough to escalate level 2 as well, from the level now shown
    assert (await escalate(crisis, alert_id, staff_id=first, level=2)).status_code == 200
    assert (await alert(crisis, alert_id))["current_level"] == 3


async def test_an_acknowledged_or_resolved_alert_is_a_409_and_the_escalation_is_audited(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first, second = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([first], "PT5M"), ([second], "PT5M")], 0)
    alert_id = (await flag(crisis, site, client))["alert_id"]
    request_id = f"escalate-{alert_id}"
    answer = await crisis.http.post(
        f"/alerts/{alert_id}/escalate",
        json={"staff_id": str(first)},
        headers={"X-Request-ID": request_id},
    )
    assert answer.status_code == 200, answer.text
    acked = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(second)})
    assert acked.status_code == 200

    taken = await escalate(crisis, alert_id, staff_id=first)
    assert taken.status_code == 409
    assert "acknowledged" in taken.json()["detail"]
    resolved = await crisis.http.post(
        f"/alerts/{alert_id}/resolve", json={"staff_id": str(second), "outcome": "safety_plan"}
    )
    assert resolved.status_code == 200
    assert (await escalate(crisis, alert_id, staff_id=first)).status_code == 409

    async with crisis.runtime.db().acquire() as conn:
        rows = await conn.fetch(
            """SELECT action, on_behalf_of, resource_id, status FROM audit
               WHERE request_id = $1""",
            request_id,
        )
    assert [tuple(r) for r in rows] == [("escalate_alert", first, alert_id, 200)]


async def test_esc_by_sms_escalates_and_answers_in_the_members_language(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first_phone, second_phone = "+33 6 91 91 91 91", "+33 6 92 92 92 92"
    first, second = uuid4(), uuid4()
    await bus.publish(staff_registered(first, site, first_phone, "fr"), source="booking")
    await bus.publish(staff_registered(second, site, second_phone, "ko"), source="booking")
    await put_policy(crisis, site, [([first], "PT5M"), ([second], "PT5M")], 0, [first])
    alert_id = (await flag(crisis, site, client))["alert_id"]

    async def code_of(staff_id: UUID) -> str | None:
        found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
        return next((p["reply_code"] for p in found if p["staff_id"] == str(staff_id)), None)

    code = await eventually(lambda: code_of(first), timeout=10)

    answer = await sms_reply(crisis, first_phone, f"esc {code.lower()}")

    assert answer == f"Alerte {alert_id[:8]} escaladée : le niveau 2 est appelé maintenant."
    view = await alert(crisis, alert_id)
    assert view["current_level"] == 2
    assert "escalated_by_staff" in kinds(view)
    # the same code again: its level was left, nothing more happens
    again = await sms_reply(crisis, first_phone, f"ESC {code}")
    assert again == f"L’alerte {alert_id[:8]} est déjà passée plus loin : le niveau 2 est appelé."  # noqa: RUF001
    # level 2's member escalates past the last level: the fallback is paged (AlertExhausted)
    second_code = await eventually(lambda: code_of(second), timeout=10)
    last = await sms_reply(crisis, second_phone, f"ESC {second_code}")
    assert last.startswith(f"알림 {alert_id[:8]}이(가) 에스컬레이션되었습니다. 모든 단계가")
    assert (await alert(crisis, alert_id))["exhausted"] is True

    async def exhausted() -> bool:
        found = await bus.crisis_events(site, "AlertExhausted")
        return any(e.data["alert_id"] == alert_id for e in found)

    await eventually(exhausted, timeout=10)
    # HELP and a stray text say how to escalate, in English for a stranger
    assert "ESC" in await sms_reply(crisis, "+15551234567", "what?")
