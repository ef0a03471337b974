"""Cross-site backup: a site's policy names staff and schedules of another site only when it
lists that site in `backup_site_ids` and the key administers both; the backup is paged, opens
the on-call page in their own site's zone, and acknowledges like the site's own staff."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest

from counseling_shared.events import SiteRegistered
from tests.crisis.integration.harness import (
    API_KEY,
    Bus,
    RunningCrisis,
    crisis_settings,
    eventually,
    pages,
    running_crisis,
)
from tests.crisis.integration.steps import (
    INBOUND_SMS_SECRET,
    alert,
    announce_staff,
    flag,
    kinds,
    register_staff,
    sms_reply,
)
from tests.crisis.integration.test_deactivated_staff import deactivate
from tests.crisis.integration.test_oncall_escalation import daily_layer
from tests.crisis.integration.test_schedules import post_schedule

pytestmark = pytest.mark.integration


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


PHONES = ["+15550000102", "+15550000103", "+15550000104"]  # the main site's backups
ADMIN_AB, ADMIN_A, STAFF_AB = bearer("admin-ab"), bearer("admin-a"), bearer("staff-ab")


@dataclass
class Center:
    crisis: RunningCrisis
    bus: Bus
    main: UUID  # the main site (Los Angeles)
    small: UUID  # the small site (Tokyo), backed up by the main site
    night: UUID  # the small site's one counselor
    backups: list[UUID]  # the main site's on-call people


@pytest.fixture(scope="module")
async def center(database_url: str, nats_url: str) -> AsyncIterator[Center]:
    async with Bus.connect(nats_url) as bus:
        small, main, night = uuid4(), uuid4(), uuid4()
        backups = [uuid4() for _ in range(3)]
        keys = ",".join(
            [
                API_KEY,
                f"admin-ab;role=admin;sites={small}|{main}",
                f"admin-a;role=admin;sites={small}",
                f"staff-ab;role=staff;sites={small}|{main};staff={night}",
            ]
        )
        settings = crisis_settings(
            database_url, nats_url, API_KEYS=keys, INBOUND_SMS_SECRET=INBOUND_SMS_SECRET
        )
        async with running_crisis(settings) as crisis:
            for site_id, zone in ((small, "Asia/Tokyo"), (main, "America/Los_Angeles")):
                registered = SiteRegistered(
                    site_id=site_id, name="Site", timezone=zone, locale="en"
                )
                await bus.publish(registered, source="booking")
            await announce_staff(bus, small, [night], ["+15550000001"])
            await announce_staff(bus, main, backups, PHONES)
            await known(crisis, [night, *backups])
            yield Center(crisis, bus, main, small, night, backups)


def chain(center: Center, backups: list[UUID], **extra: Any) -> dict[str, Any]:
    return {
        "levels": [
            {"staff_ids": [str(center.night)], "ack_timeout": "PT1S"},
            {"staff_ids": [str(s) for s in backups], "ack_timeout": "PT60S"},
        ],
        "repeat": 0,
        **extra,
    }


async def put(
    center: Center, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """PUT the small site's policy (crisis knows every member named: `known`)."""
    url = f"/sites/{center.small}/escalation-policy"
    answer = await center.crisis.http.put(url, json=body, headers=headers)
    result: dict[str, Any] = answer.json()
    return answer.status_code, result


async def known(crisis: RunningCrisis, staff: list[UUID]) -> None:
    """Wait until crisis has heard of booking's StaffRegistered for each."""

    async def all_known() -> bool:
        async with crisis.runtime.db().acquire() as conn:
            n = await conn.fetchval(
                "SELECT count(*) FROM staff WHERE staff_id = ANY($1::uuid[])", staff
            )
        return bool(n == len(staff))

    await eventually(all_known, timeout=10)


def fields(answer: dict[str, Any]) -> set[str]:
    return {e["field"] for e in answer["errors"]}


async def test_another_sites_staff_need_their_site_listed_by_a_key_of_both_sites(
    center: Center,
) -> None:
    # Regression guard (passes on main too): without the opt-in, even an every-site admin
    # names only the site's own staff.
    backup = center.backups[0]
    status, answer = await put(
        center, {**chain(center, [backup]), "fallback_staff_ids": [str(backup)]}, bearer(API_KEY)
    )
    assert status == 422
    assert fields(answer) == {"levels.1.staff_ids", "fallback_staff_ids"}
    assert str(center.main) not in str(answer)  # which site they are of is not said

    listed = chain(center, [backup], backup_site_ids=[str(center.main)])
    for key in (ADMIN_A, STAFF_AB):  # one site's admin; a staff key (even bound to both)
        status, answer = await put(center, listed, key)
        assert status == 422, answer
        assert fields(answer) == {"backup_site_ids.0"}


async def test_an_admin_of_both_sites_names_the_main_sites_staff_and_schedules(
    center: Center,
) -> None:
    backup = center.backups[0]
    schedule = (
        await post_schedule(
            center.crisis, center.main, [daily_layer(center.backups[1], start_on=date.today())]
        )
    )["schedule_id"]
    body = {
        "levels": [
            {"staff_ids": [str(center.night)], "ack_timeout": "PT1M"},
            {"staff_ids": [str(backup)], "schedule_ids": [schedule], "ack_timeout": "PT1M"},
        ],
        "fallback_staff_ids": [str(center.backups[2])],
        "backup_site_ids": [str(center.main)],
    }
    status, stored = await put(center, body, ADMIN_AB)
    assert status == 200, stored
    assert stored["backup_site_ids"] == [str(center.main)]

    url = f"/sites/{center.small}/escalation-policy"
    read = (await center.crisis.http.get(url, headers=ADMIN_AB)).json()
    assert read["backup_site_ids"] == [str(center.main)]
    # A key of the small site alone is not told the main site's id.
    assert (await center.crisis.http.get(url, headers=ADMIN_A)).json()["backup_site_ids"] == []
    # Read, written back unchanged: accepted again (the listing is part of what GET shows).
    again = {k: read[k] for k in ("levels", "repeat", "fallback_staff_ids", "backup_site_ids")}
    status, _ = await put(center, again, ADMIN_AB)
    assert status == 200
    # Without the listing, the same policy is refused as before the extension.
    status, answer = await put(center, {**again, "backup_site_ids": []}, ADMIN_AB)
    assert status == 422
    assert fields(answer) == {
        "levels.1.staff_ids",
        "levels.1.schedule_ids",
        "fallback_staff_ids",
    }


async def test_the_backup_is_paged_reads_their_own_zone_and_acknowledges_by_link(
    center: Center,
) -> None:
    backup, left = center.backups[0], await register_staff(center.bus, center.main, 1)
    await known(center.crisis, left)
    status, answer = await put(
        center, chain(center, [backup, *left], backup_site_ids=[str(center.main)]), ADMIN_AB
    )
    assert status == 200, answer
    await deactivate(center.bus, center.crisis, center.main, left[0])

    alert_id = (await flag(center.crisis, center.small, uuid4()))["alert_id"]

    async def backup_paged() -> dict[str, Any] | None:
        paged = pages(await center.bus.crisis_events(center.small, "PageRequested"), alert_id)
        return next((p for p in paged if p["staff_id"] == str(backup)), None)

    page = await eventually(backup_paged, timeout=15)
    assert page["level"] == 2
    assert page["site_id"] == str(center.small)
    view = await alert(center.crisis, alert_id)
    skipped = [s for s in view["timeline"] if s["kind"] == "page_skipped"]
    assert [s["staff_id"] for s in skipped] == [str(left[0])]

    parts = urlsplit(page["ack_url"])
    token = parse_qs(parts.query)["token"][0]
    no_key = {"Authorization": ""}
    opened = await center.crisis.http.get(parts.path, params={"token": token}, headers=no_key)
    assert opened.status_code == 200, opened.text
    assert "(Los Angeles)" in opened.text  # the backup's own zone, not the small site's
    assert "(Tokyo)" not in opened.text

    acked = await center.crisis.http.post(
        f"{parts.path}/ack", data={"token": token}, headers=no_key
    )
    assert acked.status_code == 200, acked.text
    view = await alert(center.crisis, alert_id)
    assert view["status"] == "acknowledged"
    assert view["acknowledged_by"] == str(backup)
    assert "acknowledged" in kinds(view)


async def test_an_admin_acts_for_a_paged_backup_but_not_for_one_never_paged(
    center: Center,
) -> None:
    backup, other = center.backups[0], center.backups[1]
    status, answer = await put(
        center, chain(center, [backup], backup_site_ids=[str(center.main)]), ADMIN_AB
    )
    assert status == 200, answer
    alert_id = (await flag(center.crisis, center.small, uuid4()))["alert_id"]
    await eventually(
        lambda: _paged(center, alert_id, backup),
        timeout=15,
    )
    http = center.crisis.http
    refused = await http.post(
        f"/alerts/{alert_id}/ack", json={"staff_id": str(other)}, headers=ADMIN_AB
    )
    assert refused.status_code == 403, refused.text
    acked = await http.post(
        f"/alerts/{alert_id}/ack", json={"staff_id": str(backup)}, headers=ADMIN_AB
    )
    assert acked.status_code == 200, acked.text
    resolved = await http.post(
        f"/alerts/{alert_id}/resolve",
        json={"staff_id": str(backup), "outcome": "safety_plan"},
        headers=ADMIN_AB,
    )
    assert resolved.status_code == 200, resolved.text
    trail = (await http.get("/audit", params={"actor_id": str(backup)})).json()["items"]
    acts = [e for e in trail if e["action"] in ("acknowledge_alert", "resolve_alert")]
    assert len(acts) == 2
    assert all(e["site_id"] == str(center.small) for e in acts)


async def _paged(center: Center, alert_id: str, staff_id: UUID) -> bool:
    paged = pages(await center.bus.crisis_events(center.small, "PageRequested"), alert_id)
    return any(p["staff_id"] == str(staff_id) for p in paged)


async def test_the_backup_acknowledges_by_text_with_the_pages_code(center: Center) -> None:
    backup = center.backups[2]
    status, answer = await put(
        center, chain(center, [backup], backup_site_ids=[str(center.main)]), ADMIN_AB
    )
    assert status == 200, answer
    alert_id = (await flag(center.crisis, center.small, uuid4()))["alert_id"]

    async def backup_paged() -> dict[str, Any] | None:
        paged = pages(await center.bus.crisis_events(center.small, "PageRequested"), alert_id)
        return next((p for p in paged if p["staff_id"] == str(backup)), None)

    page = await eventually(backup_paged, timeout=15)
    reply = await sms_reply(center.crisis, PHONES[2], f"ACK {page['reply_code']}")
    assert "acknowledged" in reply.lower()
    view = await alert(center.crisis, alert_id)
    assert view["acknowledged_by"] == str(backup)
