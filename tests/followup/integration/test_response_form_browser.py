"""The client's check-in pages in a real browser (Debian's Chromium through Playwright), on a
phone-sized screen: what a browser audit found on 2026-12-05, each failing before its fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext
from playwright.async_api import Page, ViewportSize

from counseling_shared.http.body_limit import MAX_BODY_BYTES
from devstack.ports import free_port
from tests.a11y import audit_both_sizes
from tests.browser import chromium, needs_chromium
from tests.followup.integration.support import RunningFollowup
from tests.followup.integration.test_response_form import due_link, path_of

pytestmark = pytest.mark.integration
PHONE = ViewportSize(width=320, height=640)


async def _open(api: httpx.AsyncClient, js: JetStreamContext) -> str:
    """The check-in's full link (a French-speaking client; the site's line is +33 3114)."""
    _, due = await due_link(api, js)
    assert due.response_url is not None
    return str(api.base_url).rstrip("/") + path_of(due.response_url)


async def _answer_all(page: Page, item9: str = "0") -> None:
    names = await page.evaluate(
        "[...new Set([...document.querySelectorAll('input[type=radio]')].map(e => e.name))]"
    )
    for name in names:
        await page.check(f"input[name={name}] >> nth=0")
    await page.check(f'input[name=phq9_9][value="{item9}"]')


@needs_chromium
async def test_back_after_sending_does_not_show_the_answers_again(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """A shared phone: Back after "Merci" must not bring the PHQ-9 answers back on screen."""
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        opened = await page.goto(url)
        assert opened is not None
        await _answer_all(page, item9="2")
        await page.fill("#comment", "private words")
        await page.click("button[type=submit]")
        await page.go_back()
        assert await page.locator("input[type=radio]:checked").count() == 0
        assert "private words" not in await page.content()
        assert opened.headers.get("cache-control") == "no-store"
        assert opened.headers.get("referrer-policy") == "no-referrer"


@needs_chromium
async def test_reloading_the_thank_you_page_after_a_risky_answer_keeps_the_emergency_line(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(url)
        await _answer_all(page, item9="2")
        await page.click("button[type=submit]")
        line = page.locator(".emergency")
        assert await line.is_visible()
        assert await line.get_attribute("role") == "alert"  # announced: they just said it
        reloaded = await page.reload()  # re-posts: the 409 "already received" page
        assert reloaded is not None
        assert reloaded.status == 409
        assert await line.is_visible()
        assert "+33 3114" in await line.inner_text()
        reopened = await page.goto(url)  # the SMS link opened again later
        assert reopened is not None
        assert reopened.status == 409
        assert "Déjà reçu" in await page.content()
        assert "+33 3114" in await line.inner_text()
        assert await line.get_attribute("role") is None  # a plain line, not an alarm


@needs_chromium
async def test_a_link_cut_before_its_token_gets_a_page_in_the_browsers_language(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(locale="ru-RU", viewport=PHONE)).new_page()
        opened = await page.goto(url.split("?")[0])
        assert opened is not None
        assert opened.status == 403
        assert opened.headers["content-type"].startswith("text/html")
        assert await page.evaluate("document.documentElement.lang") == "ru"
        assert await page.locator("h1").inner_text() == "Ссылка недействительна"
        assert opened.headers.get("cache-control") == "no-store"


@needs_chromium
async def test_a_missing_phq9_answer_is_named_at_its_question_not_by_colour_only(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(url)
        await _answer_all(page)
        await page.evaluate(
            "document.querySelectorAll('input[name=phq9_5]').forEach(e => e.checked = false)"
        )
        await page.click("button[type=submit]")
        item5 = page.locator("fieldset#phq9_5")
        assert await item5.get_attribute("aria-invalid") == "true"
        assert await item5.locator(".error").count() == 1  # words at the question itself
        described = await item5.get_attribute("aria-describedby")
        assert await page.locator(f"#{described}").inner_text() == (
            "Veuillez choisir une réponse à cette question."
        )
        assert await page.locator("fieldset#phq9_4[aria-invalid=true]").count() == 0
        assert await page.locator("fieldset#phq9[aria-invalid=true]").count() == 0
        # The summary at the top has the focus, and names the question by its words.
        assert await page.evaluate("document.activeElement.id") == "form-errors"
        links = page.locator("#form-errors a")
        assert await links.count() == 1
        assert (await links.inner_text()).startswith("PHQ-9, 5. ")
        await links.click()
        assert await page.evaluate("document.activeElement.id") == "phq9_5"


@needs_chromium
async def test_the_emergency_line_is_beside_item_9_without_css_has_or_script(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """A browser without `:has()` (or a screen reader) must still meet the line before sending:
    it is plain text after item 9; `:has()` only changes its colours."""
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(url)
        note = page.locator("#self-harm-note")
        assert await note.is_visible()  # before any answer
        assert "+33 3114" in await note.inner_text()
        assert await note.get_attribute("role") is None
        follows_item9 = await page.evaluate(
            "document.querySelector('#phq9_9').nextElementSibling.id"
        )
        assert follows_item9 == "self-harm-note"
        calm = await note.evaluate("e => getComputedStyle(e).borderTopColor")
        await page.check('input[name=phq9_9][value="2"]')
        assert await note.evaluate("e => getComputedStyle(e).borderTopColor") != calm


@needs_chromium
async def test_a_long_word_does_not_widen_the_page_on_a_small_phone(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(url)
        await page.evaluate("document.querySelector('legend').textContent = 'x'.repeat(300)")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]


@needs_chromium
async def test_an_answer_over_the_body_limit_shows_the_413_page_in_the_readers_language(
    api: httpx.AsyncClient, js: JetStreamContext
) -> None:
    """What the browser shows, not only what the server answers: the 413 page in French, after
    a post the server refuses before reading it (it reads the rest, so no reset connection)."""
    url = await _open(api, js)
    async with chromium() as browser:
        page = await (await browser.new_context(locale="fr-FR", viewport=PHONE)).new_page()
        await page.goto(url)
        await _answer_all(page)
        # `maxlength` stops typing, not a script (or a browser that ignores it).
        await page.evaluate(
            "n => { document.querySelector('#comment').value = 'x'.repeat(n) }", MAX_BODY_BYTES
        )
        async with page.expect_navigation() as sent:
            await page.click("button[type=submit]")
        shown = await sent.value
        assert shown is not None
        assert shown.status == 413
        assert shown.headers["content-type"].startswith("text/html")
        assert shown.headers.get("cache-control") == "no-store"
        assert await page.evaluate("document.documentElement.lang") == "fr"
        assert await page.locator("h1").inner_text() == "Envoi trop long"
        assert "Raccourcissez votre commentaire" in await page.locator("body").inner_text()
        # Nothing was recorded: the same link still opens the form.
        reopened = await page.goto(url)
        assert reopened is not None
        assert reopened.status == 200
        assert await page.locator("#comment").count() == 1


@asynccontextmanager
async def _database_unreachable(service: RunningFollowup) -> AsyncIterator[None]:
    """followup's pool pointed at a port nothing listens on, then given back."""
    runtime = service.runtime
    assert runtime is not None
    working = runtime.pool
    dead = await asyncpg.create_pool(
        f"postgresql://nobody@127.0.0.1:{free_port()}/none", min_size=0, max_size=1
    )
    runtime.pool = dead
    try:
        yield
    finally:
        runtime.pool = working
        await dead.close()


@needs_chromium
async def test_a_submit_that_meets_an_outage_keeps_the_answers_to_send_again_once(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    service: RunningFollowup,
    db: asyncpg.Pool[Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The client must not retype PHQ-9: the outage page carries the answers (hidden fields,
    never the URL) and one press sends them, recorded once."""
    _, due = await due_link(api, js)
    assert due.response_url is not None
    url = str(api.base_url).rstrip("/") + path_of(due.response_url)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=PHONE)).new_page()
        await page.goto(url)
        await _answer_all(page, item9="1")
        await page.check('input[name=phq9_3][value="2"]')
        await page.fill("#comment", "private words")
        async with _database_unreachable(service):
            async with page.expect_navigation() as sent:
                await page.click("button[type=submit]")
            outage = await sent.value
            assert outage is not None
            assert outage.status == 503
            assert await page.locator("h1").inner_text() == "Indisponible pour le moment"
            assert "conservées sur cette page" in await page.locator("main").inner_text()
            assert "+33 3114" in await page.locator(".emergency").inner_text()
            kept = page.locator("form input[type=hidden]")
            assert await page.locator("form input[name=phq9_3]").get_attribute("value") == "2"
            assert await page.locator("form input[name=comment]").get_attribute("value") == (
                "private words"
            )
            assert await kept.count() == 9 + 4  # PHQ-9, well-being, contact, comment, token
            assert "phq9" not in page.url
            assert "private" not in page.url
            assert outage.headers.get("cache-control") == "no-store"
            found = await audit_both_sizes(page, "outage, answers kept")
            assert not found, "\n".join(found)
        logged = capfd.readouterr()
        assert "private words" not in logged.out + logged.err  # nor in the outage's log lines
        async with page.expect_navigation() as resent:
            await page.click("button[type=submit]")
        thanks = await resent.value
        assert thanks is not None
        assert thanks.status == 200
        assert "Merci" in await page.locator("h1").inner_text()
        reloaded = await page.reload()  # the same post once more: already received
        assert reloaded is not None
        assert reloaded.status == 409
    stored = await db.fetch(
        "SELECT comment, answers FROM checkin_responses WHERE followup_id = $1", due.followup_id
    )
    assert [(r["comment"], r["answers"]) for r in stored] == [
        ("private words", {"phq9": [0, 0, 2, 0, 0, 0, 0, 0, 1]})
    ]
