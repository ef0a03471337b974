"""The on-call page lists the shifts colleagues offered the link's staff member, each with a
"Take this shift" button (extension): taking one changes the schedule at once; a second take
is a 409 page; a member it was not offered to sees none; a shift on a day the site is closed
says so. Over HTTP, then in a real browser (with the page's accessibility audit)."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.events import ClosedSpan, SiteClosuresChanged
from crisis.entrypoints.page_i18n import translator
from tests.a11y import audit_both_sizes
from tests.browser import needs_chromium
from tests.crisis.integration.harness import Bus, RunningCrisis, eventually, pages
from tests.crisis.integration.phone import phone
from tests.crisis.integration.steps import flag, put_policy, register_staff, staff_registered
from tests.crisis.integration.test_oncall_page import _page_link, _path_and_token
from tests.crisis.integration.test_schedules import on_call_at, post_schedule, weekly_layer

pytestmark = pytest.mark.integration

NO_KEY = {"Authorization": ""}


async def _offered_and_paged(
    crisis: RunningCrisis, bus: Bus
) -> tuple[dict[str, Any], str, str, UUID]:
    """A on call for good, B a participant (their layer starts in 2099); A asks B to take
    tomorrow's two hours; an alert pages B. Returns the request, B's page path and token, C."""
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    layers = [weekly_layer(a), weekly_layer(b, c, start_on="2099-01-05")]
    schedule = await post_schedule(crisis, site, layers, timezone="America/New_York")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    asked = await crisis.http.post(
        f"/schedules/{schedule['schedule_id']}/swap-requests",
        json={
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "requester_id": str(a),
            "offered_to": [str(b)],
        },
    )
    assert asked.status_code == 201, asked.text
    await put_policy(crisis, site, [([b], "PT60S"), ([c], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    path, token = _path_and_token((await _page_link(bus, site, alert_id))["ack_url"])
    return asked.json(), path, token, c


async def test_the_page_offers_the_shift_and_taking_it_changes_the_schedule(
    crisis: RunningCrisis, bus: Bus
) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)

    opened = await crisis.http.get(path, params={"token": token}, headers=NO_KEY)
    assert opened.status_code == 200, opened.text
    assert "Shifts offered to you" in opened.text
    assert ">Take this shift</button>" in opened.text
    assert "On-call counselor" in opened.text  # the requester, by name
    take = f"{path}/swaps/{swap['id']}/take"
    assert f'action="{take}"' in opened.text

    listed = re.search(r"From (.+?) to (.+?)</p>", opened.text)
    assert listed, opened.text
    taken = await crisis.http.post(take, data={"token": token}, headers=NO_KEY)
    assert taken.status_code == 200, taken.text
    # Which shift: once taken it leaves the list, and several may have been offered.
    said = f"You took the shift from {listed[1]} to {listed[2]}; the schedule shows you on call."
    assert said in taken.text
    assert "Shifts offered to you" not in taken.text  # no longer open
    middle = datetime.fromisoformat(swap["start"]) + timedelta(hours=1)
    on_call = await on_call_at(crisis, swap["schedule_id"], middle.isoformat())
    assert on_call == [(await crisis.http.get(f"/swap-requests/{swap['id']}")).json()["taken_by"]]

    # A second tap (a double click, a reload) of one's own take: a 409 that says they have it,
    # never that a colleague took it (they would think they are not on call).
    again = await crisis.http.post(take, data={"token": token}, headers=NO_KEY)
    assert again.status_code == 409
    assert said in again.text
    assert "a colleague took it" not in again.text
    trail = await crisis.http.get("/audit", params={"actor_id": on_call[0]})
    uses = [
        (e["action"], e["status"]) for e in trail.json()["items"] if e["actor"]["kind"] == "link"
    ]
    assert ("take_swap_by_link", 200) in uses
    assert ("take_swap_by_link", 409) in uses


async def _closed_on_the_shifts_day(crisis: RunningCrisis, bus: Bus, swap: dict[str, Any]) -> str:
    """booking closes the site on the local (New York) day the offered shift starts; the
    page's words for it, once crisis has recorded it."""
    day = datetime.fromisoformat(swap["start"]).astimezone(ZoneInfo("America/New_York")).date()
    span = ClosedSpan(from_=day, to=day, kind="public_holiday")
    site = UUID(swap["site_id"])
    await bus.publish(SiteClosuresChanged(site_id=site, closures=[span]), source="booking")

    async def recorded() -> bool:
        async with crisis.runtime.db().acquire() as conn:
            found = await conn.fetchval("SELECT true FROM site_closures WHERE site_id = $1", site)
        return bool(found)

    await eventually(recorded)
    return f"On a day the site is closed: {day:%b} {day.day}, {day.year} (public holiday)"


async def test_a_shift_offered_on_a_closed_day_says_so(crisis: RunningCrisis, bus: Bus) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)
    before = await crisis.http.get(path, params={"token": token}, headers=NO_KEY)
    assert "On a day the site is closed" not in before.text

    words = await _closed_on_the_shifts_day(crisis, bus, swap)

    opened = await crisis.http.get(path, params={"token": token}, headers=NO_KEY)
    assert opened.status_code == 200, opened.text
    assert words in opened.text


async def test_a_withdrawn_shift_is_no_longer_open_on_the_page(
    crisis: RunningCrisis, bus: Bus
) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)
    cancelled = await crisis.http.post(
        f"/swap-requests/{swap['id']}/cancel", json={"staff_id": swap["requester_id"]}
    )
    assert cancelled.status_code == 200, cancelled.text

    late = await crisis.http.post(
        f"{path}/swaps/{swap['id']}/take", data={"token": token}, headers=NO_KEY
    )
    assert late.status_code == 409
    assert "no longer open" in late.text
    assert "You took the shift" not in late.text


async def test_a_member_already_on_call_beside_the_requester_is_told_why_they_cannot_take_it(
    crisis: RunningCrisis, bus: Bus
) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)
    b = swap["offered_to"][0]
    beside = await crisis.http.post(
        f"/schedules/{swap['schedule_id']}/overrides",
        json={"staff_id": b, "start": swap["start"], "end": swap["end"]},
    )
    assert beside.status_code == 201, beside.text

    refused = await crisis.http.post(
        f"{path}/swaps/{swap['id']}/take", data={"token": token}, headers=NO_KEY
    )

    assert refused.status_code == 409
    assert "already on call for part of this shift" in refused.text
    assert (await crisis.http.get(f"/swap-requests/{swap['id']}")).json()["status"] == "open"


async def test_a_member_it_was_not_offered_to_sees_no_offer_and_cannot_take_it(
    crisis: RunningCrisis, bus: Bus
) -> None:
    swap, path, token, c = await _offered_and_paged(crisis, bus)
    # B cannot take the alert: level 2 pages C, who was not offered the shift.
    b = swap["offered_to"][0]
    alert_id = (await crisis.http.get("/alerts", params={"site_id": swap["site_id"]})).json()[0][
        "id"
    ]
    escalated = await crisis.http.post(f"/alerts/{alert_id}/escalate", json={"staff_id": b})
    assert escalated.status_code == 200, escalated.text

    async def c_paged() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(UUID(swap["site_id"]), "PageRequested"), alert_id)
        return next((p for p in found if p["staff_id"] == str(c)), None)

    c_path, c_token = _path_and_token((await eventually(c_paged, timeout=10))["ack_url"])
    opened = await crisis.http.get(c_path, params={"token": c_token}, headers=NO_KEY)
    assert opened.status_code == 200, opened.text
    assert "Take this shift" not in opened.text
    refused = await crisis.http.post(
        f"{c_path}/swaps/{swap['id']}/take", data={"token": c_token}, headers=NO_KEY
    )
    assert refused.status_code == 403
    assert "not offered to you" in refused.text
    assert (await crisis.http.get(f"/swap-requests/{swap['id']}")).json()["status"] == "open"
    del path, token


@needs_chromium
async def test_take_this_shift_in_a_browser(crisis: RunningCrisis, bus: Bus) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)
    async with phone(crisis) as page:
        await page.goto(f"http://crisis{path}?token={token}")
        assert await audit_both_sizes(page, "offered") == []
        await page.get_by_role("button", name="Take this shift").click()
        await page.wait_for_load_state()
        assert "You took the shift" in await page.content()
    taken = await crisis.http.get(f"/swap-requests/{swap['id']}")
    assert taken.json()["status"] == "taken"


@needs_chromium
async def test_a_closed_day_on_an_offered_shift_in_a_browser(
    crisis: RunningCrisis, bus: Bus
) -> None:
    swap, path, token, _ = await _offered_and_paged(crisis, bus)
    words = await _closed_on_the_shifts_day(crisis, bus, swap)
    async with phone(crisis) as page:
        await page.goto(f"http://crisis{path}?token={token}")
        assert await page.get_by_text(words).is_visible()
        assert await audit_both_sizes(page, "offered-closed") == []


async def _offered_while_on_the_backup(crisis: RunningCrisis, bus: Bus) -> tuple[str, str, str]:
    """A on call for good on the crisis line; B on call for good on the backup, which the
    site's policy pages first (so B gets a page link); A offers B tomorrow's two hours of the
    crisis line, which the policy pages next. Returns the take's path, B's token, the page."""
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    zone = "America/New_York"
    layers = [weekly_layer(a), weekly_layer(b, c, start_on="2099-01-05")]
    line = await post_schedule(crisis, site, layers, timezone=zone)
    backup = await post_schedule(crisis, site, [weekly_layer(b)], timezone=zone, name="Backup line")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    asked = await crisis.http.post(
        f"/schedules/{line['schedule_id']}/swap-requests",
        json={
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "requester_id": str(a),
            "offered_to": [str(b)],
        },
    )
    assert asked.status_code == 201, asked.text
    levels = [
        {"schedule_ids": [backup["schedule_id"]], "ack_timeout": "PT60S"},
        {"schedule_ids": [line["schedule_id"]], "ack_timeout": "PT60S"},
    ]
    policy = await crisis.http.put(f"/sites/{site}/escalation-policy", json={"levels": levels})
    assert policy.status_code == 200, policy.text
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    path, token = _path_and_token((await _page_link(bus, site, alert_id))["ack_url"])
    return f"{path}/swaps/{asked.json()['id']}/take", token, path


async def test_a_member_on_call_then_on_another_schedule_of_the_policy_is_told_why(
    crisis: RunningCrisis, bus: Bus
) -> None:
    take, token, _ = await _offered_while_on_the_backup(crisis, bus)

    refused = await crisis.http.post(take, data={"token": token}, headers=NO_KEY)

    assert refused.status_code == 409
    assert "on the schedule Backup line of the same escalation policy" in refused.text
    assert "You took the shift" not in refused.text


LEVEL_NOTICE = (
    "You are paged at level %(level)s of an escalation policy that also pages this schedule:"
    " you would be paged twice and one person fewer would be paged. Another colleague may take"
    " it."
)


async def test_a_member_named_in_a_level_of_the_policy_is_told_why_in_their_language(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """The site's policy pages B by name first, then the crisis line A is on: B taking A's
    hours would be paged twice. The refusal names the level, in B's language."""
    site = uuid4()
    a, b, c = await register_staff(bus, site, 3)
    layers = [weekly_layer(a), weekly_layer(b, c, start_on="2099-01-05")]
    line = await post_schedule(crisis, site, layers, timezone="America/New_York")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    asked = await crisis.http.post(
        f"/schedules/{line['schedule_id']}/swap-requests",
        json={
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "requester_id": str(a),
            "offered_to": [str(b)],
        },
    )
    assert asked.status_code == 201, asked.text
    levels = [
        {"staff_ids": [str(b)], "ack_timeout": "PT60S"},
        {"schedule_ids": [line["schedule_id"]], "ack_timeout": "PT60S"},
    ]
    policy = await crisis.http.put(f"/sites/{site}/escalation-policy", json={"levels": levels})
    assert policy.status_code == 200, policy.text
    alert_id = (await flag(crisis, site, uuid4()))["alert_id"]
    path, token = _path_and_token((await _page_link(bus, site, alert_id))["ack_url"])
    take = f"{path}/swaps/{asked.json()['id']}/take"

    for lang in ("en", "fr", "ko", "ru"):
        words = translator(lang)(LEVEL_NOTICE, level=1)
        assert lang == "en" or words != translator("en")(LEVEL_NOTICE, level=1)
        await bus.publish(staff_registered(b, site, "+15550000000", locale=lang), source="booking")

        async def in_language(words: str = words) -> str | None:
            refused = await crisis.http.post(take, data={"token": token}, headers=NO_KEY)
            assert refused.status_code == 409
            return refused.text if words in refused.text else None

        text = await eventually(in_language, timeout=10)
        assert "You took the shift" not in text
        assert "%(level)s" not in text


@needs_chromium
async def test_take_this_shift_refused_in_a_browser_names_the_other_schedule(
    crisis: RunningCrisis, bus: Bus
) -> None:
    _, token, path = await _offered_while_on_the_backup(crisis, bus)
    async with phone(crisis) as page:
        await page.goto(f"http://crisis{path}?token={token}")
        await page.get_by_role("button", name="Take this shift").click()
        await page.wait_for_load_state()
        notice = page.get_by_role("status")
        assert "on the schedule Backup line of the same escalation policy" in (
            await notice.inner_text()
        )
        assert await audit_both_sizes(page, "refused") == []
