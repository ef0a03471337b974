"""booking's client pages (the appointment's manage page, its late-cancel step, the waitlist
offer page and their answers) reviewed in a real browser, in the four languages they speak:
axe-core's WCAG 2.1 A/AA rules, 44 px tap targets, no sideways scrolling at 360 px, a phone's
size and a desktop's, and the keyboard alone. One browser for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from booking.entrypoints.web.texts import MANAGE_TEXTS, TEXTS
from tests.a11y import PHONE, audit_both_sizes, audit_small_phone
from tests.booking.integration.support import Booking
from tests.booking.integration.test_group_waitlist import _full_group, _published
from tests.booking.integration.test_manage_link import _events, charge_fee
from tests.booking.integration.test_waitlist import _offer_url
from tests.browser import chromium, needs_chromium

pytestmark = [pytest.mark.integration, needs_chromium]

LOCALES = ("en", "fr-FR", "ko-KR", "ru-RU")
# The client's zone (Europe/Paris) as each language names its city.
CITY = {"en": "Paris", "fr-FR": "Paris", "ko-KR": "파리", "ru-RU": "Париж"}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@asynccontextmanager
async def _phone(browser: Browser, locale: str) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, locale=locale)
    try:
        yield await context.new_page()
    finally:
        await context.close()


def _url(booking: Booking, link: str) -> str:
    """The link on the test's server (the events carry the public base URL)."""
    parts = urlsplit(link)
    return f"{str(booking.http.base_url).rstrip('/')}{parts.path}?{parts.query}"


async def _practice(booking: Booking, locale: str) -> tuple[dict[str, Any], ...]:
    site = await booking.site(name="Centre Rive Gauche", timezone="Europe/Paris", locale="fr")
    await charge_fee(booking, site["id"])
    counselor = await booking.counselor(site["id"])
    client = await booking.client(site["id"], locale=locale, timezone="Europe/Paris")
    return site, counselor, client


async def _manage_link(booking: Booking, site_id: str) -> str:
    [booked] = await _events(booking, site_id, 1, "AppointmentBooked")
    return _url(booking, booked["manage_url"])


async def _offer_link(
    booking: Booking,
    site: dict[str, Any],
    counselor: dict[str, Any],
    client: dict[str, Any],
    events: int,
) -> str:
    """`client` waits; another client's appointment is cancelled: the offer's link, once the
    site's stream holds `events` messages."""
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=60)
    )
    await booking.created("/waitlist", {"client_id": client["id"], "site_id": site["id"]})
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    return _url(booking, await _offer_url(booking, site["id"], events))


async def _shows_the_city(page: Page, locale: str) -> None:
    """The time as the reader sees it ends with the zone's city in their language, and the
    IANA id is nowhere on screen."""
    when = await page.locator("dd").nth(1).inner_text()
    assert when.endswith(f"({CITY[locale]})"), when
    assert "Europe/Paris" not in await page.locator("body").inner_text()


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_manage_page_and_its_answers_pass_the_review(
    booking: Booking, browser: Browser, locale: str
) -> None:
    site, counselor, client = await _practice(booking, locale)
    await booking.appointment(counselor, client, booking.at(hours=20))  # late: the fee shows
    link = await _manage_link(booking, site["id"])
    async with _phone(browser, locale) as page:
        await page.goto(link)
        assert await page.evaluate("document.documentElement.lang") == locale[:2]
        await _shows_the_city(page, locale)
        found = await audit_both_sizes(page, "manage (late)")
        await page.locator("form[method=post] button").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "confirmed")
        await page.goto(link)
        found += await audit_both_sizes(page, "manage (confirmed)")
        await page.locator("form[method=get] button").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "cancel step")
        await page.locator("form[method=post] button").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "cancelled")
        await page.goto(link[:-2] + "AA")
        found += await audit_both_sizes(page, "not valid")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_offer_page_and_its_answer_pass_the_review(
    booking: Booking, browser: Browser, locale: str
) -> None:
    site, counselor, client = await _practice(booking, locale)
    link = await _offer_link(booking, site, counselor, client, 8)
    async with _phone(browser, locale) as page:
        await page.goto(link)
        await _shows_the_city(page, locale)
        found = await audit_both_sizes(page, "offer")
        await page.get_by_role("button", name=TEXTS[locale[:2]]["book"]).click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "booked")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
async def test_declining_an_offer_then_leaving_the_waitlist_pass_the_review(
    booking: Booking, browser: Browser, locale: str
) -> None:
    """ "No, thank you" beside "Book this time": the declined page says the time went on and
    offers "Take me off the waiting list", whose answer is reviewed too."""
    site, counselor, client = await _practice(booking, locale)
    link = await _offer_link(booking, site, counselor, client, 8)
    words = TEXTS[locale[:2]]
    async with _phone(browser, locale) as page:
        await page.goto(link)
        found = await audit_both_sizes(page, "offer")
        async with page.expect_navigation() as answered:
            await page.get_by_role("button", name=words["decline"]).click()
        declined = await answered.value
        assert declined is not None
        assert declined.status == 200
        assert await page.locator("h1").inner_text() == words["declined_title"]
        found += await audit_both_sizes(page, "declined")
        reopened = await booking.http.get(link)  # the declined offer's link: gone
        assert reopened.status_code == 410
        assert words["expired_title"] in reopened.text
        async with page.expect_navigation() as answered:
            await page.get_by_role("button", name=words["leave"]).click()
        left = await answered.value
        assert left is not None
        assert left.status == 200
        assert await page.locator("h1").inner_text() == words["left_title"]
        found += await audit_both_sizes(page, "left the waitlist")
    assert not found, "\n".join(found)
    [entry] = (await booking.get("/waitlist", site_id=site["id"])).json()
    assert (entry["status"], entry["reason"]) == ("withdrawn", "client_request")


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_group_seats_offer_page_says_so_and_passes_the_review(
    booking: Booking, browser: Browser, locale: str
) -> None:
    site, counselor, client = await _practice(booking, locale)
    practice = {"site": site, "counselor": counselor, "room": await booking.room(site["id"])}
    group, seats = await _full_group(booking, practice, hours=66)
    await booking.created(f"/group-sessions/{group['id']}/waitlist", {"client_id": client["id"]})
    await booking.post(
        f"/appointments/{seats[0]['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    [offer] = await _published(booking, site["id"], "WaitlistOfferMade")
    words = TEXTS[locale[:2]]
    async with _phone(browser, locale) as page:
        await page.goto(_url(booking, offer["accept_url"]))
        assert await page.locator("dd").first.inner_text() == words["group"]
        assert await page.locator("main p").first.inner_text() == words["group_intro"]
        when = await page.locator("dd").nth(2).inner_text()
        assert when.endswith(f"({CITY[locale]})"), when
        found = await audit_both_sizes(page, "group offer")
        await page.get_by_role("button", name=words["book"]).click()
        await page.wait_for_load_state()
        assert await page.locator("h1").inner_text() == words["booked_title"]
        found += await audit_both_sizes(page, "group seat booked")
    assert not found, "\n".join(found)
    seated = (await booking.get(f"/group-sessions/{group['id']}")).json()["seats"]
    assert client["id"] in {s["client_id"] for s in seated}


async def test_an_early_manage_page_passes_the_review(booking: Booking, browser: Browser) -> None:
    site, counselor, client = await _practice(booking, "ko-KR")
    await booking.appointment(counselor, client, booking.at(hours=50))
    link = await _manage_link(booking, site["id"])
    async with _phone(browser, "ko-KR") as page:
        await page.goto(link)
        found = await audit_both_sizes(page, "manage (early)")
        await page.locator("form[method=get] button").click()
        await page.wait_for_load_state()
        found += await audit_both_sizes(page, "cancel step (early)")
    assert not found, "\n".join(found)


async def test_a_fee_raised_while_the_client_reads_the_cancel_step_is_shown_not_charged(
    booking: Booking, browser: Browser
) -> None:
    """The site raises its fee after the cancel step showed 40 €: the button brings the step
    back with the new fee and why (reviewed like the other states), nothing cancelled; its
    button then cancels with the fee it showed."""
    site, counselor, client = await _practice(booking, "ru-RU")
    booked = await booking.appointment(counselor, client, booking.at(hours=20))
    link = await _manage_link(booking, site["id"])
    raised = {"amount": "60.00", "currency": "EUR"}
    async with _phone(browser, "ru-RU") as page:
        await page.goto(link)
        await page.locator("form[method=get] button").click()
        await page.wait_for_load_state()
        assert "40,00" in await page.locator("#terms").inner_text()
        await charge_fee(booking, site["id"], raised)
        await page.locator("form[method=post] button").click()
        await page.wait_for_load_state()
        status = (await booking.get(f"/appointments/{booked['id']}")).json()["status"]
        assert status == "booked"
        assert "60,00" in await page.locator("#terms").inner_text()
        assert MANAGE_TEXTS["ru"]["fee_changed"] in await page.locator("body").inner_text()
        found = await audit_both_sizes(page, "cancel step (fee changed)")
        await page.locator("form[method=post] button").click()
        await page.wait_for_load_state()
        assert "60,00" in await page.locator("body").inner_text()
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert (answer["status"], answer["fee_due"]) == ("cancelled", raised)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
async def test_the_pages_reflow_at_320_px_and_with_text_at_200_percent(
    booking: Booking, browser: Browser, locale: str
) -> None:
    """The smallest phone (320 px) and a reader's large text at that width, with axe and
    the 44 px targets: the manage page (late, with the fee), its cancel step, the offer."""
    site, counselor, client = await _practice(booking, locale)
    await booking.appointment(counselor, client, booking.at(hours=20))
    link = await _manage_link(booking, site["id"])
    offer = await _offer_link(booking, site, counselor, client, 9)
    async with _phone(browser, locale) as page:
        await page.goto(link)
        found = await audit_small_phone(page, "manage (late)")
        await page.locator("form[method=get] button").click()
        await page.wait_for_load_state()
        found += await audit_small_phone(page, "cancel step")
        await page.goto(offer)
        found += await audit_small_phone(page, "offer")
    assert not found, "\n".join(found)
