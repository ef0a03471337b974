"""An acknowledged alert is never silent, through the real stack (HTTP, PostgreSQL, JetStream,
the escalation scheduler) on a clock the test moves: a rise in risk re-opens it and pages its
acknowledger again, and an acknowledgement past the policy's `ack_expires_after` does the same,
also across a restart."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.db import connect
from crisis.adapters.alert_views import unsent_page_count
from crisis.application.rebuild import rebuild_projections
from tests.crisis.integration.harness import (
    Bus,
    BusEvent,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff
from tests.projections import snapshot

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


async def ack(crisis: RunningCrisis, alert_id: str, staff_id: UUID) -> dict[str, Any]:
    answer = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(staff_id)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def reopenings(bus: Bus, site: UUID, alert_id: str) -> list[BusEvent]:
    return [
        e for e in await bus.crisis_events(site, "AlertReopened") if e.data["alert_id"] == alert_id
    ]


async def metric(crisis: RunningCrisis, series: str) -> float:
    text = (await crisis.http.get("/metrics")).text
    line = next((x for x in text.splitlines() if x.startswith(series + " ")), None)
    return float(line.split()[-1]) if line else 0.0


async def timers(crisis: RunningCrisis, alert_id: str) -> list[tuple[Any, ...]]:
    async with crisis.runtime.db().acquire() as conn:
        rows = await conn.fetch(
            """SELECT round, kind, level, status FROM escalation_timers WHERE alert_id = $1
               ORDER BY created_at, round, level""",
            UUID(alert_id),
        )
    return [tuple(r) for r in rows]


REOPENED = 'crisis_escalation_steps_total{kind="reopened"}'


async def test_a_rise_in_risk_after_an_ack_pages_the_acknowledger_and_then_escalates(
    start_crisis: StartCrisis, bus: Bus
) -> None:
    clock = ControllableClock(datetime.now(UTC).replace(microsecond=0))
    site, client = uuid4(), uuid4()
    async with start_crisis(clock) as crisis:
        first, second = await register_staff(bus, site, 2)
        await put_policy(crisis, site, [([first], "PT5M"), ([second], "PT5M")], repeat=0)
        alert_id = (await flag(crisis, site, client, "moderate"))["alert_id"]
        reopened_before = await metric(crisis, REOPENED)

        # 02:00 the moderate alert is acknowledged (an accidental ACK, say) …
        clock.advance(MINUTE)
        assert (await ack(crisis, alert_id, first))["status"] == "acknowledged"
        # … 02:40 a check-in answer raises a high flag for the same client.
        clock.advance(40 * MINUTE)
        raised_at = clock.now()
        assert (await flag(crisis, site, client, "high"))["alert_id"] == alert_id

        view = await alert(crisis, alert_id)
        assert view["status"] == "open"
        assert view["level"] == "high"
        assert view["acknowledged_by"] is None
        assert kinds(view)[-4:] == ["flag_received", "level_raised", "reopened", "page_requested"]
        reopened = view["timeline"][-2]
        assert (reopened["staff_id"], reopened["reason"]) == (str(first), "risk_raised")
        assert [(p["staff_id"], p["level"]) for p in view["pages"]] == [
            (str(first), 1),
            (str(first), 1),
        ]
        due = datetime.fromisoformat(view["escalation_due_at"])
        assert due == raised_at + 5 * MINUTE

        async def announced() -> list[BusEvent]:
            return await reopenings(bus, site, alert_id)

        [event] = await eventually(announced)
        assert event.data["staff_id"] == str(first)
        assert (event.data["reason"], event.data["level"]) == ("risk_raised", "high")
        paged = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
        assert [p["staff_id"] for p in paged] == [str(first), str(first)]
        assert paged[1]["risk_level"] == "high"
        assert paged[1]["page_id"] != paged[0]["page_id"]
        assert await metric(crisis, REOPENED) == reopened_before + 1

        # The re-opening's page is due to reach the acknowledger; the first one, which the
        # acknowledgement withdrew in notify, never will and is not counted as unsent.
        async with crisis.runtime.db().acquire() as conn:
            unsent = await unsent_page_count(conn, raised_at + timedelta(seconds=31), 30.0)
        assert unsent == 1
        # Nobody takes it again within level 1's ack_timeout: level 2 is paged.
        clock.set(due + timedelta(seconds=1))

        async def level_two_paged() -> bool:
            found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
            return any(p["staff_id"] == str(second) for p in found)

        await eventually(level_two_paged, timeout=10)
        assert await timers(crisis, alert_id) == [
            (0, "escalation", 1, "cancelled"),
            (1, "escalation", 1, "fired"),
            (1, "escalation", 2, "scheduled"),
        ]
        resolved = await crisis.http.post(
            f"/alerts/{alert_id}/resolve",
            json={"staff_id": str(second), "outcome": "safety_plan"},
        )
        assert resolved.status_code == 200, resolved.text


async def test_an_ack_left_unresolved_past_ack_expires_after_reopens_also_across_a_restart(
    start_crisis: StartCrisis, bus: Bus
) -> None:
    clock = ControllableClock(datetime.now(UTC).replace(microsecond=0))
    site, client = uuid4(), uuid4()
    async with start_crisis(clock) as crisis:
        first, second = await register_staff(bus, site, 2)
        stored = await put_policy(
            crisis, site, [([first], "PT5M"), ([second], "PT5M")], ack_expires_after="PT4H"
        )
        assert stored["ack_expires_after"] == "PT4H"
        alert_id = (await flag(crisis, site, client, "high"))["alert_id"]
        clock.advance(MINUTE)
        acked_at = clock.now()
        taken = await ack(crisis, alert_id, first)
        assert datetime.fromisoformat(taken["ack_expires_at"]) == acked_at + timedelta(hours=4)
        assert (await alert(crisis, alert_id))["policy"]["ack_expires_after"] == "PT4H"
        assert await timers(crisis, alert_id) == [
            (0, "escalation", 1, "cancelled"),
            (0, "ack_expiry", 1, "scheduled"),
        ]
        # Held for 3 hours: the gauge the CrisisAlertAcknowledgedUnresolved rule reads.
        clock.advance(timedelta(hours=3))

        async def held_three_hours() -> bool:
            age = await metric(crisis, "crisis_oldest_acknowledged_alert_age_seconds")
            return age >= 3 * 3600

        await eventually(held_three_hours)

    # crisis is down when the acknowledgement lapses; the timer row is still there at restart.
    clock.advance(timedelta(hours=1, seconds=1))
    async with start_crisis(clock) as restarted:

        async def announced() -> list[BusEvent]:
            return await reopenings(bus, site, alert_id)

        [event] = await eventually(announced, timeout=10)
        assert (event.data["reason"], event.data["staff_id"]) == ("ack_expired", str(first))
        view = await alert(restarted, alert_id)
        assert view["status"] == "open"
        assert view["ack_expires_at"] is None
        assert kinds(view)[-2:] == ["reopened", "page_requested"]
        assert [p["staff_id"] for p in view["pages"]] == [str(first), str(first)]

        # Taken again: a new acknowledgement, a new expiry of the next round.
        again = await ack(restarted, alert_id, first)
        assert again["status"] == "acknowledged"
        assert await timers(restarted, alert_id) == [
            (0, "escalation", 1, "cancelled"),
            (0, "ack_expiry", 1, "fired"),
            (1, "escalation", 1, "cancelled"),
            (1, "ack_expiry", 1, "scheduled"),
        ]
        resolved = await restarted.http.post(
            f"/alerts/{alert_id}/resolve", json={"staff_id": str(first), "outcome": "police"}
        )
        assert resolved.status_code == 200, resolved.text
        assert [t[3] for t in await timers(restarted, alert_id)][-1] == "cancelled"


async def test_a_rebuild_keeps_a_reopened_alert_and_its_acknowledgements_expiry(
    database_url: str, start_crisis: StartCrisis, bus: Bus
) -> None:
    clock = ControllableClock(datetime.now(UTC).replace(microsecond=0))
    site, client = uuid4(), uuid4()
    async with start_crisis(clock) as crisis:
        (first,) = await register_staff(bus, site, 1)
        await put_policy(crisis, site, [([first], "PT5M")], ack_expires_after="PT1H")
        alert_id = (await flag(crisis, site, client, "moderate"))["alert_id"]
        await ack(crisis, alert_id, first)
        clock.advance(10 * MINUTE)
        await flag(crisis, site, client, "imminent")  # re-opened: round 1
        clock.advance(MINUTE)
        await ack(crisis, alert_id, first)  # its expiry, round 1, is pending
        live = await snapshot(database_url)

        conn = await connect(database_url)
        try:
            await rebuild_projections(conn, clock=clock)
        finally:
            await conn.close()

        assert await snapshot(database_url) == live
        # The kept expiry still fires: round 2 pages the acknowledger again.
        clock.advance(timedelta(hours=1, seconds=1))

        async def twice() -> list[BusEvent] | None:
            found = await reopenings(bus, site, alert_id)
            return found if len(found) == 2 else None

        reasons = [e.data["reason"] for e in await eventually(twice, timeout=10)]
        assert reasons == ["risk_raised", "ack_expired"]
        assert len((await alert(crisis, alert_id))["pages"]) == 3
