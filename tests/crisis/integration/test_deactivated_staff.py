"""booking's StaffDeactivated in crisis: the person is no longer paged, a policy naming them is
refused, reading the policy that still names them flags the gap, and they act on no alert."""

from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffDeactivated, StaffRegistered
from crisis.domain.policy_warnings import NO_FALLBACK
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually, pages
from tests.crisis.integration.steps import alert, flag, kinds, put_policy, register_staff

pytestmark = pytest.mark.integration


async def deactivate(bus: Bus, crisis: RunningCrisis, site: UUID, staff_id: UUID) -> None:
    await bus.publish(StaffDeactivated(staff_id=staff_id, site_id=site), source="booking")

    async def recorded() -> bool | None:
        async with crisis.runtime.db().acquire() as conn:
            at = await conn.fetchval(
                "SELECT deactivated_at FROM staff WHERE staff_id = $1", staff_id
            )
        return True if at is not None else None

    await eventually(recorded, timeout=10)


async def test_a_deactivated_member_is_skipped_and_the_policy_read_flags_the_gap(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    left, stayed, backup = await register_staff(bus, site, 3)
    await put_policy(crisis, site, [([left, stayed], "PT30S"), ([backup], "PT30S")])

    await deactivate(bus, crisis, site, left)
    policy = (await crisis.http.get(f"/sites/{site}/escalation-policy")).json()
    alert_id = (await flag(crisis, site, client))["alert_id"]

    assert policy["inactive_staff_ids"] == [str(left)]
    assert policy["warnings"] == [
        f"level 1: {left} is deactivated and will be skipped",
        NO_FALLBACK,
    ]

    async def page_requested() -> list[dict[str, Any]] | None:
        found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
        return found or None

    paged = await eventually(page_requested, timeout=5)
    assert [p["staff_id"] for p in paged] == [str(stayed)]
    view = await alert(crisis, alert_id)
    assert kinds(view).count("page_skipped") == 1
    [skipped] = [s for s in view["timeline"] if s["kind"] == "page_skipped"]
    assert skipped["staff_id"] == str(left)
    assert skipped["reason"] == "staff_deactivated"


async def test_a_policy_naming_a_deactivated_member_is_a_422(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    left, stayed = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([stayed], "PT30S")])
    await deactivate(bus, crisis, site, left)

    answer = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={"levels": [{"staff_ids": [str(stayed), str(left)], "ack_timeout": "PT30S"}]},
    )

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "levels.0.staff_ids", "message": f"{left} is deactivated and cannot be paged"}
    ]


async def test_a_registration_handled_after_the_deactivation_leaves_the_member_inactive(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, member = uuid4(), uuid4()
    await deactivate(bus, crisis, site, member)  # crisis has not seen them registered

    [stayed] = await register_staff(bus, site, 1)
    await bus.publish(
        StaffRegistered(
            staff_id=member,
            site_id=site,
            name="Left already",
            role=StaffRole.COUNSELOR,
            email="left@center.example",
            locale="en",
        ),
        source="booking",
    )

    async def registered() -> bool | None:
        async with crisis.runtime.db().acquire() as conn:
            role = await conn.fetchval("SELECT role FROM staff WHERE staff_id = $1", member)
        return True if role == "counselor" else None

    await eventually(registered, timeout=10)
    await put_policy(crisis, site, [([stayed], "PT30S")])

    answer = await crisis.http.put(
        f"/sites/{site}/escalation-policy",
        json={"levels": [{"staff_ids": [str(member)], "ack_timeout": "PT30S"}]},
    )

    assert answer.status_code == 422
    assert "deactivated" in answer.json()["errors"][0]["message"]


async def test_a_member_who_has_left_acts_on_no_alert_by_admin_or_by_an_earlier_page_link(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    left, stayed = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([left], "PT60S"), ([stayed], "PT60S")])
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]

    async def page_to_left() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(site, "PageRequested"), alert_id)
        return found[0] if found else None

    page = await eventually(page_to_left, timeout=10)
    assert page["staff_id"] == str(left)
    await deactivate(bus, crisis, site, left)

    for_them = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(left)})
    link = urlsplit(page["ack_url"])
    token = parse_qs(link.query)["token"][0]
    by_link = await crisis.http.post(
        f"{link.path}/ack", data={"token": token}, headers={"Authorization": ""}
    )

    assert (for_them.status_code, by_link.status_code) == (403, 403)
    assert (await alert(crisis, alert_id))["status"] == "open"
    by_colleague = await crisis.http.post(f"/alerts/{alert_id}/ack", json={"staff_id": str(stayed)})
    assert by_colleague.status_code == 200, by_colleague.text


async def test_a_schedule_or_an_override_naming_a_deactivated_member_is_a_422(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    left, stayed = await register_staff(bus, site, 2)
    await deactivate(bus, crisis, site, left)
    layer = {
        "rotation": {"kind": "daily", "handoff": "08:00", "start_on": "2026-01-01"},
        "participants": [str(stayed), str(left)],
    }
    body = {"site_id": str(site), "name": "Nights", "timezone": "Europe/Paris", "layers": [layer]}

    refused = await crisis.http.post("/schedules", json=body)

    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "layers.0.participants", "message": f"{left} is deactivated and cannot be paged"}
    ]
    created = await crisis.http.post(
        "/schedules", json={**body, "layers": [{**layer, "participants": [str(stayed)]}]}
    )
    assert created.status_code == 201, created.text
    override = await crisis.http.post(
        f"/schedules/{created.json()['schedule_id']}/overrides",
        json={
            "staff_id": str(left),
            "replaces": None,
            "start": "2026-03-01T00:00:00Z",
            "end": "2026-03-02T00:00:00Z",
        },
    )
    assert override.status_code == 422, override.text
    assert override.json()["errors"] == [
        {"field": "staff_id", "message": f"{left} is deactivated and cannot be paged"}
    ]
