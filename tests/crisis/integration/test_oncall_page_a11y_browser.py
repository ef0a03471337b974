"""The on-call page's accessibility review in a real browser, in every language the page
speaks: axe-core's WCAG 2.1 A/AA rules, 44 px tap targets, no sideways scrolling at 360 px,
at a phone's size and a desktop's, in each state staff meet at night (open, a wrong PIN,
acknowledged, resolved, a link that is not valid), and the keyboard alone. One browser for
the module; each test opens its own context.

The app runs in-process (ASGI): the browser's requests to http://crisis are answered by it."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from playwright.async_api import Browser

from tests.a11y import audit_both_sizes
from tests.browser import chromium, needs_chromium
from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.phone import phone_page
from tests.crisis.integration.steps import flag, put_policy, staff_registered
from tests.crisis.integration.test_oncall_page import _page_link, directory

pytestmark = [pytest.mark.integration, needs_chromium]
__all__ = ["directory"]  # booking's directory on the bus, a fixture of this module too

LOCALES = ("en", "fr-FR", "ko-KR", "ru-RU")
PIN = "482913"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def _link(
    crisis: RunningCrisis, bus: Bus, directory: dict[UUID, dict[str, Any]], locale: str
) -> str:
    """A fresh alert's page link for an on-call member speaking `locale`, whose PIN is PIN,
    about a client booking's directory knows."""
    site_id, client_id = uuid4(), uuid4()
    staff: list[UUID] = [uuid4(), uuid4()]
    for staff_id in staff:
        await bus.publish(
            staff_registered(staff_id, site_id, "+15550000000", locale=locale), source="booking"
        )
    await put_policy(crisis, site_id, [([staff[0]], "PT60S"), ([staff[1]], "PT60S")], repeat=0)
    pin = await crisis.http.put(f"/staff/{staff[0]}/pin", json={"pin": PIN})
    assert pin.status_code == 204, pin.text
    directory[client_id] = {
        "client_id": str(client_id),
        "site_id": str(site_id),
        "phone": "+15557654321",
        "email": "client@example.org",
        "preferred_channel": "sms",
    }
    alert_id = (await flag(crisis, site_id, client_id))["alert_id"]
    url: str = (await _page_link(bus, site_id, alert_id))["ack_url"]
    return "http://crisis/pages/" + url.split("/pages/", 1)[1]


@pytest.mark.parametrize("locale", LOCALES)
async def test_every_state_of_the_page_passes_the_review(
    crisis: RunningCrisis,
    bus: Bus,
    browser: Browser,
    directory: dict[UUID, dict[str, Any]],
    locale: str,
) -> None:
    url = await _link(crisis, bus, directory, locale)
    async with phone_page(browser, crisis, locale) as page:
        await page.goto(url)
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
        found = await audit_both_sizes(page, "open")
        await page.fill("#pin", "0000")
        await page.locator("#pin").press("Enter")
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "wrong pin")
        await page.fill("#pin", PIN)
        await page.locator("#pin").press("Enter")
        await page.wait_for_load_state()
        assert await page.locator("a[href^='tel:']").count() == 1
        found += await audit_both_sizes(page, "contact shown")
        await page.locator("button[value=acknowledge]").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "acknowledged")
        await page.select_option("#outcome", index=1)
        await page.locator("button[value=resolve]").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "resolved")
        await page.goto(url[:-2] + "AA")
        found += await audit_both_sizes(page, "not valid")
    assert not found, "\n".join(found)


async def test_a_refused_pin_is_read_with_its_field_which_has_the_focus(
    crisis: RunningCrisis, bus: Bus, browser: Browser, directory: dict[UUID, dict[str, Any]]
) -> None:
    """A wrong PIN: the keyboard (and a screen reader) lands on the field again, and the
    field is described by the refusal, not left to a line somewhere above it."""
    url = await _link(crisis, bus, directory, "fr-FR")
    async with phone_page(browser, crisis, "fr-FR") as page:
        await page.goto(url)
        assert await page.locator("#pin").get_attribute("aria-describedby") is None
        await page.fill("#pin", "0000")
        await page.locator("#pin").press("Enter")
        await page.wait_for_load_state()
        assert await page.evaluate("document.activeElement.id") == "pin"
        described = await page.locator("#pin").get_attribute("aria-describedby")
        assert described is not None
        assert await page.locator(f"#{described}").inner_text() == "Code PIN incorrect."
        await page.keyboard.type(PIN)  # straight into the field: no tapping around first
        await page.keyboard.press("Enter")
        await page.wait_for_load_state()
        assert await page.locator("a[href^='tel:']").inner_text() == "+15557654321"
