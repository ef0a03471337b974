"""crisis against real PostgreSQL and NATS: flags, pages, escalation, ack, resolve."""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import NotificationChannel, RiskLevel, RiskSource
from counseling_shared.events import NotificationFailed, NotificationSent, RiskFlagged
from tests.crisis.integration.harness import ALERT_BASE_URL, Bus, RunningCrisis, eventually, pages
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff

pytestmark = pytest.mark.integration


def now() -> datetime:
    return datetime.now(UTC)


async def test_a_posted_flag_pages_level_one_at_once(crisis: RunningCrisis, bus: Bus) -> None:
    site, client = uuid4(), uuid4()
    first, second, later = await register_staff(bus, site, 3)
    await put_policy(crisis, site, [([first, second], "PT30S"), ([later], "PT30S")])

    started = time.monotonic()
    accepted = await flag(crisis, site, client, level="high", source="followup")
    alert_id = accepted["alert_id"]
    paged = await eventually(
        lambda: _pages_when(bus, site, alert_id, count=2), timeout=10, interval=0.02
    )
    elapsed = time.monotonic() - started

    # "At once": well before level 1's 30 s deadline, with room for a loaded machine.
    assert elapsed < 10
    assert {p["staff_id"] for p in paged} == {str(first), str(second)}
    assert {(p["level"], p["risk_level"], p["site_id"]) for p in paged} == {(1, "high", str(site))}
    assert {p["alert_url"] for p in paged} == {f"{ALERT_BASE_URL}/alerts/{alert_id}"}
    events = await bus.crisis_events(site)
    flagged = [e for e in events if e.type == "RiskFlagged"]
    assert [f.data["flag_id"] for f in flagged] == [accepted["flag_id"]]
    assert accepted["id"] == accepted["flag_id"]  # the contract's `id`; `flag_id` kept
    assert flagged[0].data["source"] == "followup"
    raised = [e for e in events if e.type == "AlertRaised"]
    assert [(r.data["alert_id"], r.data["current_level"]) for r in raised] == [(alert_id, 1)]
    # One flow: everything after the flag continues its correlation id.
    assert {e.envelope["correlationid"] for e in events} == {flagged[0].envelope["id"]}

    view = await alert(crisis, alert_id)
    assert (view["status"], view["current_level"], view["level"]) == ("open", 1, "high")
    assert kinds(view) == ["flag_received", "opened", "page_requested", "page_requested"]
    assert {p["staff_id"] for p in view["pages"]} == {str(first), str(second)}
    assert all(UUID(p["id"]) and p["id"] == p["page_id"] for p in view["pages"])
    async with crisis.runtime.db().acquire() as conn:
        timers = await conn.fetch(
            "SELECT cycle, level, status FROM escalation_timers WHERE alert_id = $1", UUID(alert_id)
        )
    assert [tuple(t) for t in timers] == [(0, 1, "scheduled")]


async def test_a_missed_deadline_pages_level_two_after_its_ack_timeout(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first, second = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([first], "PT1S"), ([second], "PT30S")])

    started = time.monotonic()
    alert_id = (await flag(crisis, site, client))["alert_id"]
    level_two = await eventually(
        lambda: _pages_when(bus, site, alert_id, count=2), timeout=20, interval=0.05
    )
    elapsed = time.monotonic() - started

    # Never before level 1's deadline; late only by the machine's load (level 2's own
    # deadline is 30 s, so this cannot be the chain moving on further).
    assert elapsed >= 0.9
    assert [(p["staff_id"], p["level"]) for p in level_two] == [(str(first), 1), (str(second), 2)]
    escalated = await bus.crisis_events(site, "AlertEscalated")
    assert [e.data["current_level"] for e in escalated] == [2]
    level_two_page = [e for e in await bus.crisis_events(site) if e.data.get("level") == 2]
    assert level_two_page[0].envelope["causationid"] == escalated[0].envelope["id"]
    view = await alert(crisis, alert_id)
    assert view["current_level"] == 2
    assert "escalated" in kinds(view)


async def test_acknowledging_stops_the_escalation(crisis: RunningCrisis, bus: Bus) -> None:
    site, client = uuid4(), uuid4()
    first, second = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([first], "PT1S"), ([second], "PT1S")])
    alert_id = (await flag(crisis, site, client))["alert_id"]

    answer = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(first)})
    await asyncio.sleep(2.2)  # past both deadlines had the alert not been acknowledged

    assert answer.status_code == 200
    assert answer.json()["status"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == str(first)
    assert [p["level"] for p in pages(await bus.crisis_events(site))] == [1]
    acked = await bus.crisis_events(site, "AlertAcknowledged")
    assert [e.data["staff_id"] for e in acked] == [str(first)]
    async with crisis.runtime.db().acquire() as conn:
        timers = await conn.fetch(
            "SELECT level, status FROM escalation_timers WHERE alert_id = $1", UUID(alert_id)
        )
    assert [tuple(t) for t in timers] == [(1, "cancelled")]
    assert kinds(await alert(crisis, alert_id))[-1] == "acknowledged"


async def test_resolving_closes_the_alert_and_a_later_ack_is_a_conflict(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    (staff,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT30S")])
    alert_id = (await flag(crisis, site, client))["alert_id"]

    resolved = await crisis.http.post(
        f"/alerts/{alert_id}/resolve", json={"staff_id": str(staff), "outcome": "safety_plan"}
    )
    late_ack = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(staff)})
    again = await crisis.http.post(
        f"/alerts/{alert_id}/resolve", json={"staff_id": str(staff), "outcome": "police"}
    )

    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["outcome"]) == ("resolved", "safety_plan")
    assert late_ack.status_code == 409
    assert late_ack.headers["content-type"].startswith("application/problem+json")
    assert late_ack.json()["alert_id"] == alert_id
    assert again.status_code == 409
    events = await eventually(lambda: bus.crisis_events(site, "AlertResolved"))
    assert [(e.data["outcome"], e.data["staff_id"]) for e in events] == [
        ("safety_plan", str(staff))
    ]
    listed = await crisis.http.get("/alerts", params={"site_id": str(site), "status": "resolved"})
    assert [a["id"] for a in listed.json()] == [alert_id]
    # The client's next flag opens a new alert.
    next_alert = (await flag(crisis, site, client))["alert_id"]
    assert next_alert != alert_id


async def test_a_second_flag_joins_the_open_alert_and_raises_its_level(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    (staff,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT30S")])
    first = await flag(crisis, site, client, level="moderate")

    second = await flag(crisis, site, client, level="imminent")
    from_booking = uuid4()
    await bus.publish(
        RiskFlagged(
            flag_id=from_booking,
            client_id=client,
            site_id=site,
            level=RiskLevel.HIGH,
            source=RiskSource.BOOKING,
            flagged_at=now(),
        ),
        source="booking",
    )

    assert second["alert_id"] == first["alert_id"]
    view = await eventually(lambda: _with_flags(crisis, first["alert_id"], 3))
    assert view["level"] == "imminent"
    flags = [s for s in view["timeline"] if s["kind"] == "flag_received"]
    assert [f["flag_id"] for f in flags] == [first["flag_id"], second["flag_id"], str(from_booking)]
    raised = [s for s in view["timeline"] if s["kind"] == "level_raised"]
    assert [(r["previous_risk_level"], r["risk_level"]) for r in raised] == [
        ("moderate", "imminent")
    ]
    assert len(pages(await bus.crisis_events(site))) == 1  # joining pages nobody again
    listed = await crisis.http.get("/alerts", params={"site_id": str(site)})
    assert [a["id"] for a in listed.json()] == [first["alert_id"]]


async def test_risk_flags_from_booking_and_followup_open_alerts(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    (staff,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT30S")])
    booking_client, followup_client = uuid4(), uuid4()

    for client, source in ((booking_client, "booking"), (followup_client, "followup")):
        await bus.publish(
            RiskFlagged(
                flag_id=uuid4(),
                client_id=client,
                site_id=site,
                level=RiskLevel.HIGH,
                source=RiskSource(source),
                flagged_at=now(),
            ),
            source=source,
        )

    paged = await eventually(lambda: _pages_when(bus, site, None, count=2))
    listed = (await crisis.http.get("/alerts", params={"site_id": str(site)})).json()
    assert {a["client_id"] for a in listed} == {str(booking_client), str(followup_client)}
    assert {p["alert_id"] for p in paged} == {a["id"] for a in listed}
    # crisis does not re-announce flags it consumed from other contexts
    assert await bus.crisis_events(site, "RiskFlagged") == []


async def test_a_flag_below_moderate_is_recorded_without_an_alert(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()

    accepted = await flag(crisis, site, client, level="low")

    assert accepted["alert_id"] is None
    async with crisis.runtime.db().acquire() as conn:
        row = await conn.fetchrow(
            "SELECT level, alert_id FROM risk_flags WHERE flag_id = $1", UUID(accepted["flag_id"])
        )
    assert row is not None
    assert (row["level"], row["alert_id"]) == ("low", None)
    flagged = await eventually(lambda: bus.crisis_events(site, "RiskFlagged"))
    assert [f.data["level"] for f in flagged] == ["low"]
    assert (await crisis.http.get("/alerts", params={"site_id": str(site)})).json() == []


async def test_editing_the_policy_never_changes_a_running_alert(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first, second, replacement = await register_staff(bus, site, 3)
    await put_policy(crisis, site, [([first], "PT1S"), ([second], "PT30S")], repeat=0)
    alert_id = (await flag(crisis, site, client))["alert_id"]

    await put_policy(crisis, site, [([replacement], "PT30S")], repeat=3)
    paged = await eventually(lambda: _pages_when(bus, site, alert_id, count=2), timeout=5)

    assert [p["staff_id"] for p in paged] == [str(first), str(second)]
    frozen = (await alert(crisis, alert_id))["policy"]
    assert frozen["repeat"] == 0
    assert [lv["staff_ids"] for lv in frozen["levels"]] == [[str(first)], [str(second)]]
    current = (await crisis.http.get(f"/sites/{site}/escalation-policy")).json()
    assert current["version"] == 2
    assert current["levels"] == [
        {
            "staff_ids": [str(replacement)],
            "schedule_ids": [],
            "ack_timeout": "PT30S",
            "round_robin": False,
            "call_after": None,  # extension: notify's PAGE_CALL_DELAY
        }
    ]


async def test_after_the_last_level_the_chain_repeats_then_the_alert_stays_open_exhausted(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    (staff,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT1S")], repeat=1)
    alert_id = (await flag(crisis, site, client))["alert_id"]

    view = await eventually(lambda: _exhausted(crisis, alert_id), timeout=6)
    await asyncio.sleep(1.2)  # nothing more after exhaustion

    assert view["status"] == "open"
    assert kinds(view)[-3:] == ["chain_repeated", "page_requested", "exhausted"]
    assert [(p["level"], p["cycle"]) for p in view["pages"]] == [(1, 0), (1, 1)]
    assert len(pages(await bus.crisis_events(site))) == 2


async def test_a_site_without_a_policy_keeps_the_alert_open_and_pages_nobody(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    before = _no_policy_count((await crisis.http.get("/metrics")).text)

    alert_id = (await flag(crisis, site, client, level="imminent"))["alert_id"]

    view = await alert(crisis, alert_id)
    assert (view["status"], view["current_level"], view["policy"]) == ("open", 0, None)
    assert kinds(view) == ["flag_received", "opened", "no_policy"]
    raised = await eventually(lambda: bus.crisis_events(site, "AlertRaised"))
    assert [e.data["current_level"] for e in raised] == [0]
    assert pages(await bus.crisis_events(site)) == []
    assert _no_policy_count((await crisis.http.get("/metrics")).text) == before + 1


async def test_a_page_delivery_sets_sent_at_and_a_failure_is_in_the_timeline(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    sms_and_email, unreachable = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([sms_and_email, unreachable], "PT30S")])
    alert_id = (await flag(crisis, site, client))["alert_id"]
    view = await alert(crisis, alert_id)
    by_staff = {p["staff_id"]: p["page_id"] for p in view["pages"]}

    delivered = NotificationSent(
        notification_id=uuid4(),
        recipient_id=sms_and_email,
        site_id=site,
        channel=NotificationChannel.SMS,
        template="crisis_page",
        cause_event_id=uuid4(),
        attempts=1,
        page_id=UUID(by_staff[str(sms_and_email)]),
    )
    failed = NotificationFailed.model_validate(
        {
            **delivered.model_dump(),
            "notification_id": uuid4(),
            "recipient_id": unreachable,
            "attempts": 5,
            "page_id": UUID(by_staff[str(unreachable)]),
        }
    )
    await bus.publish(delivered, source="notify")
    await bus.publish(failed, source="notify")

    view = await eventually(lambda: _with_kinds(crisis, alert_id, {"page_sent", "page_failed"}))
    page = {p["staff_id"]: p for p in view["pages"]}
    assert page[str(sms_and_email)]["sent_at"] is not None
    assert page[str(unreachable)]["sent_at"] is None
    assert page[str(unreachable)]["failed_at"] is not None
    sent = next(s for s in view["timeline"] if s["kind"] == "page_sent")
    assert (sent["page_id"], sent["channel"]) == (by_staff[str(sms_and_email)], "sms")
    metrics = (await crisis.http.get("/metrics")).text
    assert 'crisis_page_latency_seconds_count{trigger="flag"}' in metrics


async def test_a_page_sent_again_after_a_failed_receipt_is_recorded_without_harm(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """notify re-sends a page whose delivery receipt failed: crisis hears a second
    NotificationSent for the same page, and a NotificationFailed after a Sent when the page's
    attempts ran out. The first delivery stays the page's `sent_at`; each is on the timeline."""
    site, client = uuid4(), uuid4()
    (paged,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([paged], "PT30S")])
    alert_id = (await flag(crisis, site, client))["alert_id"]
    page_id = UUID((await alert(crisis, alert_id))["pages"][0]["page_id"])
    sent = NotificationSent(
        notification_id=uuid4(),
        recipient_id=paged,
        site_id=site,
        channel=NotificationChannel.SMS,
        template="crisis_page",
        cause_event_id=uuid4(),
        attempts=1,
        page_id=page_id,
    )
    await bus.publish(sent, source="notify")
    first = await eventually(lambda: _with_kinds(crisis, alert_id, {"page_sent"}))
    sent_at = first["pages"][0]["sent_at"]

    again = NotificationSent.model_validate({**sent.model_dump(), "attempts": 3})
    await bus.publish(again, source="notify")
    given_up = NotificationFailed.model_validate({**sent.model_dump(), "attempts": 4})
    await bus.publish(given_up, source="notify")

    view = await eventually(lambda: _with_kinds(crisis, alert_id, {"page_failed"}))
    assert kinds(view).count("page_sent") == 2
    assert view["pages"][0]["sent_at"] == sent_at  # the first delivery
    assert view["pages"][0]["failed_at"] is not None
    assert view["status"] == "open"


async def test_policies_are_checked_field_by_field(crisis: RunningCrisis, bus: Bus) -> None:
    site = uuid4()
    (known,) = await register_staff(bus, site, 1)
    stranger = uuid4()

    # Set at once, before crisis has necessarily seen the registration: it waits for it.
    at_once = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={"levels": [{"staff_ids": [str(known)], "ack_timeout": "PT5M"}]},
    )
    assert at_once.status_code == 200, at_once.text

    bad = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={
            "levels": [
                {"staff_ids": [str(known)], "ack_timeout": "P1M"},
                {"staff_ids": [str(stranger)], "ack_timeout": "PT1M"},
            ]
        },
    )
    empty = await crisis.http.put(f"/sites/{site}/escalation-policy", json={"levels": []})
    missing = await crisis.http.get(f"/sites/{uuid4()}/escalation-policy")

    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "levels.0.ack_timeout",
        "levels.1.staff_ids",
    }
    assert empty.status_code == 422
    assert [e["field"] for e in empty.json()["errors"]] == ["levels"]
    assert missing.status_code == 404
    policy = (await crisis.http.get(f"/sites/{site}/escalation-policy")).json()
    assert (policy["version"], policy["repeat"]) == (1, 1)


async def test_a_duration_past_timedeltas_range_is_a_422_not_a_500(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """Contract: "A 5xx is always a bug". `PT99999999999999999999S` overflowed the duration
    parser: a 500 for a policy's `ack_timeout` or `ack_expires_after` and a schedule's `every`."""
    site = uuid4()
    (known,) = await register_staff(bus, site, 1)
    huge = "PT99999999999999999999S"
    policy = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={
            "levels": [{"staff_ids": [str(known)], "ack_timeout": huge}],
            "ack_expires_after": "P99999999999999999999D",
        },
    )
    assert policy.status_code == 422, policy.text
    assert {e["field"] for e in policy.json()["errors"]} >= {"levels.0.ack_timeout"}
    layer = {
        "rotation": {"kind": "custom", "every": huge, "handoff": "09:00", "start_on": "2026-03-02"},
        "participants": [str(known)],
    }
    schedule = await crisis.http.post(
        "/schedules", json={"site_id": str(site), "name": "Line", "layers": [layer]}
    )
    assert schedule.status_code == 422, schedule.text


async def test_an_unknown_alert_is_404_and_a_missing_key_401(crisis: RunningCrisis) -> None:
    unknown = await crisis.http.get(f"/alerts/{uuid4()}")
    ack = await crisis.http.post(f"/alerts/{uuid4()}/ack", json={"staff_id": str(uuid4())})
    anonymous = await crisis.http.get("/alerts", headers={"Authorization": ""})

    assert (unknown.status_code, ack.status_code, anonymous.status_code) == (404, 404, 401)


async def test_a_retried_flag_with_the_same_idempotency_key_opens_one_alert(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    body = {"client_id": str(client), "site_id": str(site), "level": "high", "source": "booking"}
    key = {"Idempotency-Key": str(uuid4())}

    first = await crisis.http.post("/risk-flags", json=body, headers=key)
    retried = await crisis.http.post("/risk-flags", json=body, headers=key)

    assert first.status_code == retried.status_code == 202
    # The replay reads the flag as it is now: the same ids, with the flag's details.
    assert retried.json().items() >= first.json().items()
    assert retried.headers["idempotent-replayed"] == "true"
    flagged = await eventually(lambda: bus.crisis_events(site, "RiskFlagged"))
    assert len(flagged) == 1


# --- helpers -------------------------------------------------------------------------------


async def _pages_when(
    bus: Bus, site: UUID, alert_id: str | None, count: int
) -> list[dict[str, Any]] | None:
    found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
    return found if len(found) >= count else None


async def _with_flags(crisis: RunningCrisis, alert_id: str, count: int) -> dict[str, Any] | None:
    view = await alert(crisis, alert_id)
    return view if kinds(view).count("flag_received") >= count else None


async def _with_kinds(
    crisis: RunningCrisis, alert_id: str, wanted: set[str]
) -> dict[str, Any] | None:
    view = await alert(crisis, alert_id)
    return view if wanted <= set(kinds(view)) else None


async def _exhausted(crisis: RunningCrisis, alert_id: str) -> dict[str, Any] | None:
    view = await alert(crisis, alert_id)
    return view if view["exhausted"] else None


def _no_policy_count(metrics: str) -> float:
    name = "crisis_alerts_without_policy_total"
    return float(next(x for x in metrics.splitlines() if x.startswith(name)).split()[-1])
