"""Picking another time from the manage page in a real browser, in the four languages: the
button, the list of free times by day (radio buttons in one fieldset), the choice made with
the keyboard alone, and the "moved" answer; each state reviewed (axe's WCAG 2.1 A/AA rules,
44 px targets, 360 px and 1280 px, text at 200 %, 320 px, Tab through every control)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser

from booking.entrypoints.web.texts import MANAGE_TEXTS
from tests.a11y import audit_both_sizes, audit_small_phone
from tests.booking.integration.support import Booking
from tests.booking.integration.test_client_reschedule import _at_paris
from tests.booking.integration.test_client_reschedule import _practice as _allowing
from tests.booking.integration.test_pages_a11y_browser import (
    LOCALES,
    _manage_link,
    _phone,
)
from tests.browser import chromium, needs_chromium

pytestmark = [pytest.mark.integration, needs_chromium]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.mark.parametrize("locale", LOCALES)
async def test_choosing_another_time_end_to_end_passes_the_review(
    booking: Booking, browser: Browser, locale: str
) -> None:
    site, counselor, _ = await _allowing(booking, days=3)
    client = await booking.client(site["id"], locale=locale, timezone="Europe/Paris")
    booked = await booking.appointment(counselor, client, _at_paris(booking, 2, "10:40"))
    link = await _manage_link(booking, site["id"])
    words = MANAGE_TEXTS[locale[:2]]
    async with _phone(browser, locale) as page:
        await page.goto(link)
        found = await audit_both_sizes(page, "manage (may move)")
        await page.get_by_role("button", name=words["move_start"]).click()
        await page.wait_for_load_state()
        assert await page.locator("h1").inner_text() == words["move_title"]
        assert await page.locator("fieldset h2").count() >= 1  # grouped by day
        found += await audit_both_sizes(page, "move: the times")
        found += await audit_small_phone(page, "move: the times")
        # The keyboard alone: Tab to the group, an arrow to the second time, Tab to the button.
        first = page.locator("input[name=start]").first
        await first.focus()
        await page.keyboard.press("ArrowDown")
        chosen = await page.locator("input[name=start]:checked").get_attribute("value")
        assert chosen is not None
        await page.keyboard.press("Tab")
        async with page.expect_navigation() as answered:
            await page.keyboard.press("Enter")
        moved = await answered.value
        assert moved is not None
        assert moved.status == 200
        assert await page.locator("h1").inner_text() == words["moved_title"]
        found += await audit_both_sizes(page, "moved")
    assert not found, "\n".join(found)
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert datetime.fromisoformat(answer["start"]) == datetime.fromisoformat(chosen)
    assert datetime.fromisoformat(answer["start"]) - booking.clock.now() >= timedelta(hours=24)
