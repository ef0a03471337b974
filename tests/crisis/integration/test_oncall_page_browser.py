"""The on-call page on a phone, in a real browser: a browser audit's findings (2026-12-05),
each of which failed before the fix (self-refresh wiping a PIN being typed, a preselected
outcome, the status off-screen at 320 px with large text, English problem+json for a cut link,
no CSP).

The app runs in-process (ASGI): the browser's requests to http://crisis are answered by it."""

import asyncio
from uuid import uuid4

import pytest

from tests.browser import needs_chromium
from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.phone import phone
from tests.crisis.integration.steps import flag, put_policy, register_staff, staff_registered
from tests.crisis.integration.test_oncall_page import _page_link

pytestmark = pytest.mark.integration


async def _ack_url(crisis: RunningCrisis, bus: Bus) -> tuple[str, str]:
    site_id = uuid4()
    staff = await register_staff(bus, site_id, 2)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S"), ([staff[1]], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]
    page = await _page_link(bus, site_id, alert_id)
    return page["ack_url"].replace(page["ack_url"].split("/pages/")[0], "http://crisis"), alert_id


@needs_chromium
async def test_a_pin_being_typed_is_not_wiped_by_the_self_refresh(
    crisis: RunningCrisis, bus: Bus
) -> None:
    url, _ = await _ack_url(crisis, bus)
    async with phone(crisis) as page:
        await page.goto(url)
        await page.fill("#pin", "12")
        await page.select_option("#outcome", "police")
        await asyncio.sleep(11)  # REFRESH_SECONDS is 10
        assert await page.input_value("#pin") == "12"
        assert await page.input_value("#outcome") == "police"


@needs_chromium
async def test_resolve_needs_an_outcome_chosen_on_purpose(crisis: RunningCrisis, bus: Bus) -> None:
    url, alert_id = await _ack_url(crisis, bus)
    async with phone(crisis) as page:
        await page.goto(url)
        await page.get_by_role("button", name="Resolve").click()  # a mis-tap under Acknowledge
        await page.wait_for_load_state()
        view = await crisis.http.get(f"/alerts/{alert_id}")
        assert view.json()["status"] == "open"


@needs_chromium
async def test_status_stays_on_screen_with_large_text_on_a_small_phone(
    crisis: RunningCrisis, bus: Bus
) -> None:
    url, _ = await _ack_url(crisis, bus)
    async with phone(crisis) as page:
        await page.set_viewport_size({"width": 320, "height": 640})
        await page.goto(url)
        await page.evaluate("document.documentElement.style.fontSize = '200%'")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 320
        assert await page.locator("dd.status-open").is_visible()
        box = await page.locator("dd.status-open").bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 320


@needs_chromium
async def test_a_cut_or_altered_link_answers_a_page_in_the_browsers_language(
    crisis: RunningCrisis, bus: Bus
) -> None:
    url, _ = await _ack_url(crisis, bus)
    async with phone(crisis, locale="fr-FR") as page:
        cut = await page.goto(url.split("?")[0])  # an SMS app that cut the link at "?"
        assert cut is not None
        assert cut.headers["content-type"].startswith("text/html")
        altered = await page.goto(url[:-2] + "AA")
        assert altered is not None
        assert altered.status == 403
        assert await page.evaluate("document.documentElement.lang") == "fr"


@needs_chromium
async def test_the_page_cannot_be_framed_and_has_a_csp(crisis: RunningCrisis, bus: Bus) -> None:
    url, _ = await _ack_url(crisis, bus)
    async with phone(crisis) as page:
        opened = await page.goto(url)
        assert opened is not None
        csp = opened.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert "form-action 'self'" in csp


async def _escalation_url(crisis: RunningCrisis, bus: Bus, locale: str) -> tuple[str, str]:
    """Level 1's page link, level 1's member speaking `locale`."""
    site_id, staff = uuid4(), [uuid4(), uuid4()]
    for staff_id in staff:
        await bus.publish(staff_registered(staff_id, site_id, locale=locale), source="booking")
    await put_policy(crisis, site_id, [([staff[0]], "PT5M"), ([staff[1]], "PT5M")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]
    page = await _page_link(bus, site_id, alert_id)
    return page["ack_url"].replace(page["ack_url"].split("/pages/")[0], "http://crisis"), alert_id


@needs_chromium
@pytest.mark.parametrize(
    ("locale", "button", "done", "moved_on"),
    [
        ("en", "Escalate now", "level 2 is paged now", "already moved on: level 2"),
        ("ru", "Эскалировать сейчас", "сейчас вызывается уровень 2", "уже перешло дальше"),
    ],
)
async def test_escalate_now_pages_the_next_level_and_a_stale_second_tap_does_not(
    crisis: RunningCrisis, bus: Bus, locale: str, button: str, done: str, moved_on: str
) -> None:
    """A member who cannot take the alert taps "Escalate now" (named, and described, in their
    language); the same page left open in another tab, tapped again, escalates no further."""
    url, alert_id = await _escalation_url(crisis, bus, locale)
    async with phone(crisis) as page:
        await page.goto(url)
        stale = await page.context.new_page()
        await stale.goto(url)
        escalate = page.get_by_role("button", name=button)
        assert await escalate.get_attribute("aria-describedby") == "escalate-help"

        await escalate.click()
        await page.wait_for_load_state()

        assert done in await page.locator("[role=status]").inner_text()
        view = (await crisis.http.get(f"/alerts/{alert_id}")).json()
        assert view["current_level"] == 2
        assert "escalated_by_staff" in [step["kind"] for step in view["timeline"]]
        async with stale.expect_response(lambda r: r.url.endswith("/escalate")) as answered:
            await stale.get_by_role("button", name=button).click()
        assert (await answered.value).status == 409
        assert moved_on in await stale.locator("[role=status]").inner_text()
        assert (await crisis.http.get(f"/alerts/{alert_id}")).json()["current_level"] == 2
