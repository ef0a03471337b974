"""The client's preferences page (the form, its 422, its "saved" page and the invalid-link page)
reviewed in a real browser in the four languages it speaks: axe-core's WCAG 2.1 A/AA rules,
44 px targets, no sideways scrolling at 360 px, a phone's size and a desktop's, and the keyboard
alone. notify runs on httpx's ASGI transport here, so the browser's requests to it are routed
to that transport (Playwright `route`). One browser for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from playwright.async_api import Browser, Page, Route

from notify.entrypoints.web.texts import TEXTS
from tests.a11y import PHONE, audit_both_sizes
from tests.browser import chromium, needs_chromium
from tests.notify.integration.conftest import Notify
from tests.notify.integration.test_preferences_page import client_of, page_url

pytestmark = [pytest.mark.integration, needs_chromium]

LOCALES = ("en", "fr-FR", "ko-KR", "ru-RU")
ORIGIN = "http://notify"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@asynccontextmanager
async def _phone(browser: Browser, locale: str, notify: Notify) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, locale=locale)
    async with httpx.AsyncClient(
        transport=notify.http._transport, base_url=ORIGIN
    ) as app:  # no API key: the link's token only

        async def forward(route: Route) -> None:
            asked = route.request
            headers = {k: v for k, v in asked.headers.items() if k.lower() != "host"}
            answer = await app.request(
                asked.method, asked.url, headers=headers, content=asked.post_data_buffer
            )
            await route.fulfill(
                status=answer.status_code, headers=dict(answer.headers), body=answer.content
            )

        await context.route(f"{ORIGIN}/**", forward)
        try:
            yield await context.new_page()
        finally:
            await context.close()


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_preferences_page_and_its_answers_pass_the_review(
    notify: Notify, browser: Browser, locale: str
) -> None:
    client_id = await client_of(notify, phone="+33612345678", locale=locale[:2])
    link = ORIGIN + page_url(notify, client_id)
    async with _phone(browser, locale, notify) as page:
        await page.goto(link)
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
        found = await audit_both_sizes(page, "preferences")
        await page.locator("#quiet-start").fill("21:00")
        await page.locator("form button").click()
        await page.wait_for_load_state()
        assert await page.locator("[role=alert]").count() == 1  # the 422: one time missing
        await _only_the_missing_time_is_marked(page, locale)
        found += await audit_both_sizes(page, "preferences (422)")
        await page.locator("input[value=sms]").check()
        await page.locator("#quiet-end").fill("08:00")
        await page.locator("form button").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "saved")
        await page.goto(link[:-2] + "AA")
        found += await audit_both_sizes(page, "not valid")
    assert not found, "\n".join(found)
    saved = await notify.http.get(f"/recipients/{client_id}/preferences")
    assert saved.json()["channel"] == "sms"
    assert saved.json()["quiet_hours"] == {"start": "21:00", "end": "08:00"}


async def _described_by(page: Page, selector: str) -> list[str]:
    ids = await page.locator(selector).get_attribute("aria-describedby") or ""
    return [await page.locator(f"#{name}").inner_text() for name in ids.split()]


async def _only_the_missing_time_is_marked(page: Page, locale: str) -> None:
    """The refused field itself says so (not only the summary at the top), and what was
    typed is still there."""
    t = TEXTS[locale[:2]]
    end, start = page.locator("#quiet-end"), page.locator("#quiet-start")
    assert await end.get_attribute("aria-invalid") == "true"
    assert (await _described_by(page, "#quiet-end"))[0] == t["bad_quiet"]
    assert await start.get_attribute("aria-invalid") is None
    assert await start.input_value() == "21:00"  # kept
    assert await page.locator("fieldset .error").inner_text() == t["bad_quiet"]
    await page.locator(".problems a").click()  # the summary takes the reader to the field
    assert await page.evaluate("document.activeElement.id") == "quiet-end"


async def test_the_same_time_twice_marks_both_fields_and_keeps_them(
    notify: Notify, browser: Browser
) -> None:
    client_id = await client_of(notify, locale="ko")
    async with _phone(browser, "ko-KR", notify) as page:
        await page.goto(ORIGIN + page_url(notify, client_id))
        await page.locator("#quiet-start").fill("21:00")
        await page.locator("#quiet-end").fill("21:00")
        await page.locator("form button").click()
        await page.wait_for_load_state()
        for field in ("#quiet-start", "#quiet-end"):
            assert await page.locator(field).get_attribute("aria-invalid") == "true"
            assert await page.locator(field).input_value() == "21:00"
            assert await _described_by(page, field) == [
                TEXTS["ko"]["bad_quiet"],
                await page.locator("#quiet-hint").inner_text(),
            ]
        found = await audit_both_sizes(page, "preferences (422, same time twice)")
    assert not found, "\n".join(found)
