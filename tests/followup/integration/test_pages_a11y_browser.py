"""followup's pages (the client's check-in form with PHQ-9 and GAD-7, its answers, its error
pages, and the staff progress page) reviewed in a real browser, in the four languages they
speak: axe-core's WCAG 2.1 A/AA rules, 44 px tap targets, no sideways scrolling at 360 px,
a phone's size and a desktop's, and the keyboard alone. One browser for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import httpx
import pytest
from nats.js import JetStreamContext
from playwright.async_api import Browser, Page

from counseling_shared.codes import Channel
from counseling_shared.events import ClientRegistered, FollowUpDue
from tests.a11y import PHONE, audit_both_sizes, audit_small_phone
from tests.browser import chromium, needs_chromium
from tests.followup.integration.support import (
    complete_session,
    eventually,
    followup_events,
    publish_as_booking,
    register_site,
)
from tests.followup.integration.test_response_form import path_of

pytestmark = [pytest.mark.integration, needs_chromium]

LOCALES = ("en", "fr-FR", "ko-KR", "ru-RU")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@asynccontextmanager
async def _phone(
    browser: Browser, locale: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, locale=locale, extra_http_headers=headers
    )
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def _due(
    api: httpx.AsyncClient, js: JetStreamContext, locale: str, kind: str = "checkin"
) -> FollowUpDue:
    """A check-in asking PHQ-9 and GAD-7 (or, `kind="satisfaction"`, a rating request, the
    check-in a week away), due a second after a session, for a client speaking `locale`."""
    site_id, client_id, appointment_id = uuid4(), uuid4(), uuid4()
    await register_site(js, site_id)
    client = ClientRegistered(
        client_id=client_id,
        site_id=site_id,
        locale=locale,
        timezone="Europe/Paris",
        preferred_channel=Channel.EMAIL,
    )
    await publish_as_booking(js, client, client_id)
    policy: dict[str, object] = {
        "first_checkin_after": "PT1S",
        "measures": {"checkin": ["phq9", "gad7"]},
        "emergency_line": "+33 3114",
    }
    if kind == "satisfaction":
        policy |= {"first_checkin_after": "P7D", "satisfaction_survey_after": "PT1S"}
    answer = await api.put(f"/sites/{site_id}/followup-policy", json=policy)
    assert answer.status_code == 200, answer.text
    await complete_session(js, site_id, client_id, appointment_id=appointment_id)

    async def fell_due() -> list[FollowUpDue]:
        found = await followup_events(js, site_id, "FollowUpDue")
        return [e for _, e in found if isinstance(e, FollowUpDue) and e.kind == kind]

    due: FollowUpDue = (await eventually(fell_due))[0]
    return due


async def _answer_all(page: Page) -> None:
    names = await page.evaluate(
        "[...new Set([...document.querySelectorAll('input[type=radio]')].map(e => e.name))]"
    )
    for name in names:
        await page.check(f"input[name={name}] >> nth=0")
    await page.check('input[name=phq9_9][value="2"]')


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_checkin_form_and_its_answers_pass_the_review(
    api: httpx.AsyncClient, js: JetStreamContext, browser: Browser, locale: str
) -> None:
    due = await _due(api, js, locale)
    assert due.response_url is not None
    url = str(api.base_url).rstrip("/") + path_of(due.response_url)
    async with _phone(browser, locale) as page:
        await page.goto(url)
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
        found = await audit_both_sizes(page, "form")
        await page.click("button[type=submit]")  # nothing answered: every question named
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "form with errors")
        await _answer_all(page)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "thank you (risky answer)")
        # The emergency number sits in a sentence (exempt from 2.5.5) but is the one thing a
        # distressed client must hit: 44 px all the same.
        number = await page.locator(".emergency a[href^='tel:']").bounding_box()
        assert number is not None
        assert number["height"] >= 44
        await page.goto(url)
        found += await audit_both_sizes(page, "already received")
        await page.goto(url.split("?")[0])
        found += await audit_both_sizes(page, "cut link")
    async with _phone(browser, locale, {"Authorization": "Bearer dev-admin-key"}) as page:
        await page.goto(f"{api.base_url}/clients/{due.client_id}/progress")
        found += await audit_both_sizes(page, "progress")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_satisfaction_form_and_its_answers_pass_the_review(
    api: httpx.AsyncClient, js: JetStreamContext, browser: Browser, locale: str
) -> None:
    """The rating form shares the check-in's template and styles, but not its questions: its
    own review, in the same states."""
    due = await _due(api, js, locale, "satisfaction")
    assert due.response_url is not None
    url = str(api.base_url).rstrip("/") + path_of(due.response_url)
    async with _phone(browser, locale) as page:
        await page.goto(url)
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
        assert await page.locator("input[name=satisfaction]").count() == 5
        found = await audit_both_sizes(page, "rating form")
        found += await audit_small_phone(page, "rating form")
        await page.click("button[type=submit]")  # nothing chosen: the rating is named
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "rating form with errors")
        found += await audit_small_phone(page, "rating form with errors")
        await page.check('input[name=satisfaction][value="2"]')
        await page.fill("#comment", "x")
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "thank you (rating)")
        await page.goto(url)
        found += await audit_both_sizes(page, "rating already received")
    assert not found, "\n".join(found)


# Words split across two lines inside table cells (a word whose box has two line rects); a
# break after a hyphen ("check-|in") is the language's own, not a split.
_SPLIT_WORDS_JS = """
(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^\\s\\-]+/g;
      for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length > 1) split.push(m[0]);
      }
    }
  }
  return split;
}
"""
# The smallest text of each chart as drawn on screen, in CSS px.
_CHART_TEXT_PX_JS = """
() => [...document.querySelectorAll('svg.chart')].map(svg => Math.min(
  ...[...svg.querySelectorAll('text')].map(
    t => parseFloat(t.getAttribute('font-size')) * svg.getScreenCTM().a)))
"""


@pytest.mark.parametrize("locale", ["en", "ru-RU"])
async def test_the_progress_page_on_a_phone_keeps_words_whole_and_chart_text_readable(
    api: httpx.AsyncClient, js: JetStreamContext, browser: Browser, locale: str
) -> None:
    due = await _due(api, js, locale)
    assert due.response_url is not None
    async with _phone(browser, locale) as page:
        await page.goto(str(api.base_url).rstrip("/") + path_of(due.response_url))
        await _answer_all(page)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
    async with _phone(browser, locale, {"Authorization": "Bearer dev-admin-key"}) as page:
        await page.goto(f"{api.base_url}/clients/{due.client_id}/progress")
        assert await page.locator("table").count() == 2
        assert await page.evaluate(_SPLIT_WORDS_JS, "th, td") == []
        assert min(await page.evaluate(_CHART_TEXT_PX_JS)) >= 10
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_a_question_is_not_a_box_in_a_box_on_a_small_phone(
    api: httpx.AsyncClient, js: JetStreamContext, browser: Browser
) -> None:
    """At 320 px the answers of a PHQ-9 question use the instrument's whole width: a nested
    box (border and padding again) took 2 rem of it."""
    due = await _due(api, js, "en")
    assert due.response_url is not None
    async with _phone(browser, "en") as page:
        await page.set_viewport_size({"width": 320, "height": 640})
        await page.goto(str(api.base_url).rstrip("/") + path_of(due.response_url))
        inner = await page.evaluate(
            "(() => { const f = document.querySelector('fieldset#phq9');"
            " const s = getComputedStyle(f);"
            " return f.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); })()"
        )
        row = await page.locator("fieldset#phq9_1 label.choice >> nth=0").bounding_box()
        assert row is not None
        assert row["width"] >= inner - 1
        await page.click("button[type=submit]")  # unanswered: the question's own red box
        await page.wait_for_load_state()
        item = page.locator("fieldset#phq9_1")
        assert await item.evaluate("e => getComputedStyle(e).borderLeftWidth") == "2px"
