"""Escalation levels that name schedules, against real PostgreSQL and NATS."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffRegistered
from crisis.application.oncall_check import look_ahead
from crisis.domain.policy_warnings import NO_FALLBACK
from crisis.entrypoints.oncall_check import check_once
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually, pages
from tests.crisis.integration.steps import alert, flag, kinds, register_staff
from tests.crisis.integration.test_deactivated_staff import deactivate
from tests.crisis.integration.test_schedules import post_schedule, register_site

pytestmark = pytest.mark.integration


def daily_layer(*participants: UUID, start_on: date) -> dict[str, Any]:
    return {
        "rotation": {"kind": "daily", "handoff": "00:00", "start_on": start_on.isoformat()},
        "participants": [str(p) for p in participants],
    }


async def put_levels(crisis: RunningCrisis, site: UUID, levels: list[dict[str, Any]]) -> None:
    async def accepted() -> bool:
        answer = await crisis.http.put(
            f"/sites/{site}/escalation-policy", json={"levels": levels, "repeat": 0}
        )
        assert answer.status_code in (200, 422), answer.text
        return answer.status_code == 200

    await eventually(accepted, timeout=10)


async def _pages_of(bus: Bus, site: UUID, alert_id: str, count: int) -> list[dict[str, Any]] | None:
    found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
    return found if len(found) >= count else None


async def test_a_replace_override_during_a_shift_pages_the_replacement_never_the_replaced(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    first, regular, replacement = await register_staff(bus, site, 3)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    rota = (await post_schedule(crisis, site, [daily_layer(regular, start_on=yesterday)]))[
        "schedule_id"
    ]
    await put_levels(
        crisis,
        site,
        [
            {"staff_ids": [str(first)], "ack_timeout": "PT3S"},
            {"schedule_ids": [rota], "ack_timeout": "PT1M"},
        ],
    )

    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    # While level 1 has its chance, someone covers the regular on-call person.
    now = datetime.now(UTC)
    override = await crisis.http.post(
        f"/schedules/{rota}/overrides",
        json={
            "staff_id": str(replacement),
            "replaces": str(regular),
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert override.status_code == 201, override.text
    paged = await eventually(lambda: _pages_of(bus, site, alert_id, 2), timeout=15, interval=0.1)

    assert [(p["staff_id"], p["level"]) for p in paged] == [
        (str(first), 1),
        (str(replacement), 2),
    ]
    view = await alert(crisis, alert_id)
    [resolved] = [s for s in view["timeline"] if s["kind"] == "oncall_resolved"]
    assert (resolved["schedule_id"], resolved["staff_ids"]) == (rota, [str(replacement)])
    assert str(regular) not in {p["staff_id"] for p in view["pages"]}


async def test_a_level_with_nobody_on_call_is_skipped_within_a_second(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    later_on, backup = await register_staff(bus, site, 2)
    next_month = datetime.now(UTC).date() + timedelta(days=30)
    empty = (await post_schedule(crisis, site, [daily_layer(later_on, start_on=next_month)]))[
        "schedule_id"
    ]
    await put_levels(
        crisis,
        site,
        [
            {"schedule_ids": [empty], "ack_timeout": "PT10M"},
            {"staff_ids": [str(backup)], "ack_timeout": "PT10M"},
        ],
    )

    accepted = await flag(crisis, site, uuid4())
    [paged] = await eventually(
        lambda: _pages_of(bus, site, accepted["alert_id"], 1), timeout=10, interval=0.05
    )

    assert (paged["staff_id"], paged["level"]) == (str(backup), 2)
    view = await alert(crisis, accepted["alert_id"])
    assert kinds(view)[:6] == [
        "flag_received",
        "opened",
        "oncall_resolved",
        "level_skipped",
        "escalated",
        "page_requested",
    ]
    opened_at = datetime.fromisoformat(view["opened_at"])
    assert datetime.fromisoformat(paged["requested_at"]) - opened_at < timedelta(seconds=1)
    assert view["current_level"] == 2


async def test_a_policy_may_only_name_schedules_of_its_site(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, elsewhere = await register_site(bus), await register_site(bus)
    [someone] = await register_staff(bus, elsewhere, 1)
    theirs = (
        await post_schedule(crisis, elsewhere, [daily_layer(someone, start_on=date.today())])
    )["schedule_id"]

    answer = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={
            "levels": [{"schedule_ids": [theirs], "ack_timeout": "PT1M"}, {"ack_timeout": "PT1M"}]
        },
    )

    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {
        "levels.0.schedule_ids",
        "levels.1.staff_ids",
    }


async def test_the_look_ahead_counts_empty_hours_and_single_channel_staff(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus, "UTC")
    [reachable] = await register_staff(bus, site, 1)
    email_only = uuid4()
    await bus.publish(
        StaffRegistered(
            staff_id=email_only,
            site_id=site,
            name="Counselor",
            role=StaffRole.COUNSELOR,
            email="x@center.example",
            locale="en",
        ),
        source="booking",
    )
    office = {
        **daily_layer(reachable, email_only, start_on=datetime.now(UTC).date() - timedelta(days=2)),
        "restrictions": [{"weekdays": [1, 2, 3, 4, 5, 6, 7], "from": "09:00", "to": "17:00"}],
    }
    rota = (await post_schedule(crisis, site, [office]))["schedule_id"]
    await put_levels(crisis, site, [{"schedule_ids": [rota], "ack_timeout": "PT5M"}])

    await check_once(crisis.runtime)

    exposed = (await crisis.http.get("/metrics")).text
    assert _gauge(exposed, "crisis_oncall_empty_hours", site) >= 7 * 16
    assert _gauge(exposed, "crisis_oncall_single_channel_staff", site) == 1
    async with crisis.runtime.db().acquire() as conn:
        [found] = [s for s in await look_ahead(conn, datetime.now(UTC)) if s.site_id == site]
    assert found.single_channel_staff == {email_only}


def _gauge(exposed: str, name: str, site: UUID) -> float:
    prefix = f'{name}{{site_id="{site}"}} '
    [line] = [line for line in exposed.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


async def test_a_deactivated_person_on_call_is_skipped_and_the_emptied_level_skipped_at_once(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    on_duty, backup = await register_staff(bus, site, 2)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    rota = (await post_schedule(crisis, site, [daily_layer(on_duty, start_on=yesterday)]))[
        "schedule_id"
    ]
    await put_levels(
        crisis,
        site,
        [
            {"schedule_ids": [rota], "ack_timeout": "PT10M"},
            {"staff_ids": [str(backup)], "ack_timeout": "PT10M"},
        ],
    )
    await deactivate(bus, crisis, site, on_duty)

    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    paged = await eventually(lambda: _pages_of(bus, site, alert_id, 1), timeout=10, interval=0.1)

    # Not after level 1's ten minutes: the level had nobody left to page.
    assert [(p["staff_id"], p["level"]) for p in paged] == [(str(backup), 2)]
    view = await alert(crisis, alert_id)
    steps = kinds(view)
    assert steps[steps.index("oncall_resolved") :][:5] == [
        "oncall_resolved",
        "page_skipped",
        "level_skipped",
        "escalated",
        "page_requested",
    ]
    [skipped] = [s for s in view["timeline"] if s["kind"] == "page_skipped"]
    assert (skipped["staff_id"], skipped["reason"]) == (str(on_duty), "staff_deactivated")


async def test_the_policy_warns_only_of_gaps_that_are_there(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    on_duty, named, backup = await register_staff(bus, site, 3)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    rota = (await post_schedule(crisis, site, [daily_layer(on_duty, start_on=yesterday)]))[
        "schedule_id"
    ]
    body = {
        "levels": [
            {"staff_ids": [str(named)], "schedule_ids": [rota], "ack_timeout": "PT10M"},
            {"schedule_ids": [rota], "ack_timeout": "PT10M"},
        ],
        "repeat": 0,
        "fallback_staff_ids": [str(backup)],
    }

    async def put(policy: dict[str, Any]) -> dict[str, Any] | None:
        answer = await crisis.http.put(f"/sites/{site}/escalation-policy", json=policy)
        assert answer.status_code in (200, 422), answer.text
        return answer.json() if answer.status_code == 200 else None

    without_fallback = await eventually(lambda: put({**body, "fallback_staff_ids": []}), timeout=10)
    # A level of schedules only is not "everyone deactivated"; an empty fallback is a gap.
    assert without_fallback["warnings"] == [NO_FALLBACK]
    assert (await eventually(lambda: put(body), timeout=10))["warnings"] == []

    await deactivate(bus, crisis, site, named)
    policy = (await crisis.http.get(f"/sites/{site}/escalation-policy")).json()
    assert policy["warnings"] == [
        f"level 1: {named} is deactivated and will be skipped",
        "level 1: every staff member named is deactivated; only whoever its schedules have on"
        " call is paged",
    ]
    # And so it is: level 1 pages the schedule's on-call person.
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    paged = await eventually(lambda: _pages_of(bus, site, alert_id, 1), timeout=10, interval=0.1)
    assert [(p["staff_id"], p["level"]) for p in paged] == [(str(on_duty), 1)]
