"""The waitlist: a freed slot is offered to matching entries one at a time, in order of
joining; each offer holds the slot; accepting books it, expiry offers it to the next."""

import html
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests.booking.integration.support import Booking, eventually, site_events
from tests.browser import chromium, needs_chromium

pytestmark = pytest.mark.integration


async def _entry(booking: Booking, entry_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await booking.get(f"/waitlist/{entry_id}")).json()
    return answer


def _accept_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_cancelled_slot_goes_to_the_first_matching_entry_then_after_expiry_to_the_second(
    booking: Booking,
) -> None:
    site = await booking.site()
    site_id = site["id"]
    counselor = await booking.counselor(site_id)
    other_counselor = await booking.counselor(site_id)
    booked_client = await booking.client(site_id)
    start = booking.at(hours=30)
    taken = await booking.appointment(counselor, booked_client, start)
    wrong_counselor = await booking.created(
        "/waitlist",
        {
            "client_id": (await booking.client(site_id))["id"],
            "site_id": site_id,
            "counselor_id": other_counselor["id"],
        },
    )
    booking.clock.advance(timedelta(seconds=1))  # entries are served in order of joining
    first = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site_id))["id"], "site_id": site_id}
    )
    booking.clock.advance(timedelta(seconds=1))
    second = await booking.created(
        "/waitlist",
        {
            "client_id": (await booking.client(site_id))["id"],
            "site_id": site_id,
            "modality": "online",
        },
    )

    cancelled = await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    assert cancelled.status_code == 200

    offered = (await _entry(booking, first["id"]))["offers"]
    assert [o["status"] for o in offered] == ["open"]
    assert (await _entry(booking, second["id"]))["offers"] == []
    assert (await _entry(booking, wrong_counselor["id"]))["offers"] == []
    # The offer holds the slot: nobody else can book it meanwhile.
    blocked = await booking.post(
        "/appointments",
        {
            "counselor_id": counselor["id"],
            "client_id": booked_client["id"],
            "start": start.isoformat(),
            "modality": "online",
        },
    )
    assert blocked.status_code == 409

    booking.clock.advance(timedelta(minutes=15, seconds=1))

    async def second_offered() -> list[dict[str, Any]]:
        offers: list[dict[str, Any]] = (await _entry(booking, second["id"]))["offers"]
        return offers

    assert [o["status"] for o in await eventually(second_offered)] == ["open"]
    assert [o["status"] for o in (await _entry(booking, first["id"]))["offers"]] == ["expired"]

    events = await site_events(booking.nats_url, site_id, 14)
    offers = [e["data"] for _, e, _ in events if e["type"] == "WaitlistOfferMade"]
    assert [o["client_id"] for o in offers] == [first["client_id"], second["client_id"]]
    assert all(o["appointment_start"] == offers[0]["appointment_start"] for o in offers)
    assert set(offers[0]) >= {"offer_id", "site_id", "accept_url", "expires_at"}

    too_late = await booking.http.post(_accept_path(offers[0]["accept_url"]))
    assert too_late.status_code == 410
    too_late_page = await booking.http.get(_accept_path(offers[0]["accept_url"]))
    assert too_late_page.status_code == 410
    assert "<button" not in too_late_page.text
    accepted = await booking.http.post(_accept_path(offers[1]["accept_url"]))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["client_id"] == second["client_id"]
    assert accepted.json()["start"] == taken["start"]
    again = await booking.http.post(_accept_path(offers[1]["accept_url"]))
    assert again.status_code == 409
    assert again.json()["appointment_id"] == accepted.json()["id"]
    assert (await _entry(booking, second["id"]))["status"] == "booked"


async def test_an_altered_accept_link_is_refused(booking: Booking) -> None:
    site = await booking.site()
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=40)
    )
    entry = await booking.created(
        "/waitlist", {"client_id": (await booking.client(site["id"]))["id"], "site_id": site["id"]}
    )
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "counselor"}
    )
    offer = (await _entry(booking, entry["id"]))["offers"][0]

    forged = await booking.http.post(f"/waitlist/offers/{offer['id']}/accept?token=x{offer['id']}")

    assert forged.status_code == 403
    no_token = await booking.http.post(f"/waitlist/offers/{offer['id']}/accept")
    assert no_token.status_code == 403
    assert no_token.headers["content-type"].startswith("application/problem+json")
    forged_page = await booking.http.get(
        f"/waitlist/offers/{offer['id']}/accept",
        params={"token": f"x{offer['id']}"},
        headers={"Accept-Language": "ru-RU,ru;q=0.9"},
    )
    assert forged_page.status_code == 403
    assert forged_page.headers["content-type"].startswith("text/html")
    assert '<html lang="ru">' in forged_page.text
    assert "<button" not in forged_page.text
    forged_form = await booking.http.post(
        f"/waitlist/offers/{offer['id']}/accept", data={"token": f"x{offer['id']}"}
    )
    assert forged_form.status_code == 403
    assert forged_form.headers["content-type"].startswith("text/html")
    assert (await _entry(booking, entry["id"]))["offers"][0]["status"] == "open"
    # Each use audited as crisis audits its page links: `link:invalid`, never the token.
    trail = await booking.get("/audit", actor_id="invalid", limit="200")
    uses = [
        (e["action"], e["status"]) for e in trail.json()["items"] if e["resource_id"] == offer["id"]
    ]
    assert uses == [
        ("accept_offer", 403),
        ("accept_offer", 403),
        ("show_offer", 403),
        ("accept_offer", 403),
    ]
    assert f"x{offer['id']}" not in trail.text


async def _offer_url(booking: Booking, site_id: str, count: int) -> str:
    events = await site_events(booking.nats_url, site_id, count)
    urls = [e["data"]["accept_url"] for _, e, _ in events if e["type"] == "WaitlistOfferMade"]
    assert len(urls) == 1
    return _accept_path(urls[0])


def _form_of(page: str) -> tuple[str, dict[str, str]]:
    """The page's one form: its action and its hidden token."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    token = re.search(r'<input type="hidden" name="token" value="([^"]+)"', page)
    assert action, page
    assert token, page
    return html.unescape(action.group(1)), {"token": html.unescape(token.group(1))}


def _paris_time(start: str) -> str:
    return datetime.fromisoformat(start).astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")


async def test_the_accept_link_opens_a_page_in_the_clients_locale_whose_button_books_once(
    booking: Booking,
) -> None:
    site = await booking.site(name="Centre Rive Gauche")
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=60)
    )
    waiting = await booking.client(site["id"], locale="fr-FR", timezone="Europe/Paris")
    entry = await booking.created("/waitlist", {"client_id": waiting["id"], "site_id": site["id"]})
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    link = await _offer_url(booking, site["id"], 8)

    page = await booking.http.get(link)  # a phone opening the link: no key, a plain GET

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    # No script, no framing, no sniffing (counseling_shared.http.private_pages).
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="fr">' in page.text
    assert '<button type="submit">Réserver ce créneau</button>' in page.text
    assert "Centre Rive Gauche" in page.text
    assert _paris_time(taken["start"]) in page.text  # the client's zone, not the site's
    assert "(Paris)" in page.text  # the zone's city in the client's language
    assert "Europe/Paris" not in page.text
    assert waiting["name"] not in page.text

    action, form = _form_of(page.text)
    assert "token=" not in action  # the token travels in the form body
    booked = await booking.http.post(action, data=form)

    assert booked.status_code == 201, booked.text
    assert booked.headers["content-type"].startswith("text/html")
    assert booked.headers["cache-control"] == "no-store"
    assert "Votre séance est réservée" in booked.text
    assert _paris_time(taken["start"]) in booked.text
    assert (await _entry(booking, entry["id"]))["status"] == "booked"

    again = await booking.http.post(action, data=form)
    assert again.status_code == 409
    assert "Déjà réservé" in again.text
    reopened = await booking.http.get(link)
    assert reopened.status_code == 409
    assert "<button" not in reopened.text
    api_again = await booking.http.post(link)  # API callers keep their problem+json
    assert api_again.status_code == 409
    assert api_again.headers["content-type"].startswith("application/problem+json")
    offer = (await _entry(booking, entry["id"]))["offers"][0]
    assert api_again.json()["appointment_id"] == offer["appointment_id"]


@needs_chromium
async def test_a_phone_without_javascript_books_the_offer_with_the_pages_button(
    booking: Booking,
) -> None:
    site = await booking.site(name="Riverside Counseling")
    counselor = await booking.counselor(site["id"])
    taken = await booking.appointment(
        counselor, await booking.client(site["id"]), booking.at(hours=70)
    )
    waiting = await booking.client(site["id"], locale="ko-KR")
    entry = await booking.created("/waitlist", {"client_id": waiting["id"], "site_id": site["id"]})
    await booking.post(
        f"/appointments/{taken['id']}/cancel", {"reason": "ill", "cancelled_by": "client"}
    )
    base = str(booking.http.base_url).rstrip("/")
    link = base + await _offer_url(booking, site["id"], 8)

    async with chromium() as browser:
        context = await browser.new_context(
            java_script_enabled=False, viewport={"width": 360, "height": 640}
        )
        page = await context.new_page()
        opened = await page.goto(link)
        assert opened is not None
        assert opened.status == 200
        button = page.get_by_role("button", name="이 시간으로 예약하기")
        box = await button.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 360  # fits a 360 px screen, no sideways scroll
        async with page.expect_navigation() as answered:
            await button.click()
        booked = await answered.value
        assert booked is not None
        assert booked.status == 201
        assert await page.locator("h1").inner_text() == "예약되었습니다"
        await context.close()
    assert (await _entry(booking, entry["id"]))["status"] == "booked"
