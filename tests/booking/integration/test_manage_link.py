"""The client's confirm-or-cancel link, through the real service: the link booking publishes
on `AppointmentBooked`, its page in the client's language and zone, a confirmation recorded
once, and a cancellation that shows the late fee before it is made."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import nats
import pytest

from booking.entrypoints.web import manage_page
from counseling_shared.http.body_limit import MAX_BODY_BYTES
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration

FEE = {"amount": "40.00", "currency": "EUR"}


async def _events(booking: Booking, site_id: str, wanted: int, kind: str) -> list[dict[str, Any]]:
    """The data of the first `wanted` events of type `kind` the BOOKING stream holds for a site."""
    nc = await nats.connect(booking.nats_url)
    try:
        sub = await nc.jetstream().subscribe(
            f"booking.{site_id}.{kind}", stream="BOOKING", ordered_consumer=True
        )
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while len(found) < wanted:
                msg = await sub.next_msg(timeout=10)
                found.append(json.loads(msg.data)["data"])
        return found
    finally:
        await nc.close()


async def _count(booking: Booking, site_id: str, kind: str) -> int:
    nc = await nats.connect(booking.nats_url)
    try:
        info = await nc.jetstream().stream_info(
            "BOOKING", subjects_filter=f"booking.{site_id}.{kind}"
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _form(page: str, method: str = "post") -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's first form with `method`."""
    found = re.search(rf'<form method="{method}" action="([^"]+)">(.*?)</form>', page, re.S)
    assert found, page
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', found[2]))
    return html.unescape(found[1]), {k: html.unescape(v) for k, v in fields.items()}


async def _practice(
    booking: Booking, locale: str = "fr-FR", **site: Any
) -> tuple[dict[str, Any], ...]:
    at = await booking.site(name="Centre Rive Gauche", **site)
    counselor = await booking.counselor(at["id"])
    client = await booking.client(at["id"], locale=locale, timezone="Europe/Paris")
    return at, counselor, client


async def charge_fee(booking: Booking, site_id: str, fee: dict[str, str] | None = FEE) -> None:
    """The site charges `fee` for a late cancellation (None: no fee)."""
    rules = await booking.http.put(
        f"/sites/{site_id}/booking-rules",
        json={"missed_session_fee": fee},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    assert rules.status_code == 200, rules.text


async def test_the_link_confirms_once_in_the_clients_language_and_a_reschedule_replaces_it(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, booking.at(hours=50))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = _relative(published["manage_url"])

    page = await booking.http.get(link)  # a phone opening the link: no key

    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<html lang="fr">' in page.text
    assert "Je confirme ma venue" in page.text
    local = datetime.fromisoformat(booked["start"]).astimezone(ZoneInfo("Europe/Paris"))
    assert local.strftime("%H:%M") in page.text
    assert "(Paris)" in page.text  # the zone's city in the client's language
    assert "Europe/Paris" not in page.text
    assert "Centre Rive Gauche" in page.text
    assert client["name"] not in page.text

    action, fields = _form(page.text)
    confirmed = await booking.http.post(action, data=fields)
    again = await booking.http.post(action, data=fields)  # pressed twice

    assert confirmed.status_code == 200, confirmed.text
    assert "Votre rendez-vous est confirmé" in confirmed.text
    assert again.status_code == 200
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert datetime.fromisoformat(answer["confirmed_at"]) == booking.clock.now()
    [event] = await _events(booking, site["id"], 1, "AppointmentConfirmed")
    assert set(event) == {
        "appointment_id",
        "site_id",
        "client_id",
        "counselor_id",
        "start",
        "confirmed_at",
    }
    assert await _count(booking, site["id"], "AppointmentConfirmed") == 1
    shown_again = await booking.http.get(link)
    assert "Je confirme ma venue" not in shown_again.text  # already confirmed: said so

    moved = await booking.post(
        f"/appointments/{booked['id']}/reschedule", {"start": booking.at(hours=74).isoformat()}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["confirmed_at"] is None  # the old time was confirmed, not this one
    old = await booking.http.get(link)
    assert old.status_code == 410
    assert "<button" not in old.text
    [rescheduled] = await _events(booking, site["id"], 1, "AppointmentRescheduled")
    assert (await booking.http.get(_relative(rescheduled["manage_url"]))).status_code == 200


async def test_a_late_cancel_shows_the_fee_first_then_cancels_once(booking: Booking) -> None:
    site, counselor, client = await _practice(booking)
    await charge_fee(booking, site["id"])
    booked = await booking.appointment(counselor, client, booking.at(hours=30))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = _relative(published["manage_url"])
    early = await booking.http.get(link)
    assert "sans frais d'annulation tardive jusqu" in html.unescape(early.text)  # not late

    booking.clock.advance(timedelta(hours=8))  # 22 hours before: inside the 24-hour window
    page = await booking.http.get(link)
    ask_action, ask_fields = _form(page.text, "get")
    asked = await booking.http.get(ask_action, params=ask_fields)

    assert asked.status_code == 200, asked.text
    assert "annulation tardive" in asked.text
    assert "40,00" in asked.text  # the fee, before anything is cancelled
    assert "€" in asked.text
    still = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert still["status"] == "booked"

    action, fields = _form(asked.text)
    assert fields["shown_late"] == "1"
    cancelled = await booking.http.post(action, data=fields)
    again = await booking.http.post(action, data=fields)

    assert cancelled.status_code == 200, cancelled.text
    assert "Votre rendez-vous est annulé" in cancelled.text
    assert "40,00" in cancelled.text
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert answer["status"] == "cancelled"
    assert answer["cancelled_by"] == "client"
    assert answer["late"] is True
    assert answer["fee_due"] == {"amount": "40.00", "currency": "EUR"}
    assert again.status_code == 409
    assert (await booking.http.get(link)).status_code == 409
    assert await _count(booking, site["id"], "AppointmentCancelled") == 1


@pytest.mark.parametrize(("locale", "city"), [("ko-KR", "파리"), ("ru-RU", "Париж")])
async def test_the_manage_and_late_cancel_pages_name_the_zone_in_the_clients_language(
    booking: Booking, locale: str, city: str
) -> None:
    """The time's zone as its city in the reader's words, not the IANA id ("Europe/Paris",
    English and jargon to a client reading Korean)."""
    site, counselor, client = await _practice(booking, locale)
    await charge_fee(booking, site["id"])
    await booking.appointment(counselor, client, booking.at(hours=20))  # late: the fee step
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")

    page = await booking.http.get(_relative(published["manage_url"]))
    ask_action, ask_fields = _form(page.text, "get")
    asked = await booking.http.get(ask_action, params=ask_fields)

    for shown in (page, asked):
        assert shown.status_code == 200, shown.text
        assert f"({city})" in shown.text
        assert "Europe/Paris" not in shown.text
    assert f'<html lang="{locale[:2]}">' in page.text


async def test_a_site_window_longer_than_all_time_makes_every_cancel_late_not_a_500(
    booking: Booking,
) -> None:
    """`late_cancellation_window` `P999999999D` is accepted (booking computes lateness without
    overflowing), but the page's "late from" overflowed: a 500 for the link's pages."""
    site, counselor, client = await _practice(booking, late_cancellation_window="P999999999D")
    await booking.appointment(counselor, client, booking.at(hours=50))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = _relative(published["manage_url"])

    page = await booking.http.get(link)
    assert page.status_code == 200, page.text
    ask_action, ask_fields = _form(page.text, "get")
    asked = await booking.http.get(ask_action, params=ask_fields)

    assert asked.status_code == 200, asked.text
    assert _form(asked.text)[1]["shown_late"] == "1"


async def test_a_window_closing_after_the_page_shows_the_fee_instead_of_cancelling(
    booking: Booking,
) -> None:
    site, counselor, client = await _practice(booking)
    await booking.http.put(
        f"/sites/{site['id']}/booking-rules",
        json={"missed_session_fee": FEE},
        headers={"Authorization": "Bearer dev-admin-key"},
    )
    booked = await booking.appointment(counselor, client, booking.at(hours=24, minutes=10))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    link = urlsplit(published["manage_url"])
    asked = await booking.http.get(f"{link.path}/cancel?{link.query}")
    action, fields = _form(asked.text)
    assert fields["shown_late"] == "0"

    booking.clock.advance(timedelta(minutes=20))  # the window closed meanwhile
    pressed = await booking.http.post(action, data=fields)

    assert pressed.status_code == 409
    assert "40,00" in pressed.text
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["status"] == "booked"
    _, fields = _form(pressed.text)
    assert fields["shown_late"] == "1"
    assert (await booking.http.post(action, data=fields)).status_code == 200


async def _cancel_step(booking: Booking, site_id: str) -> tuple[str, dict[str, str]]:
    """The cancel step's form (action and fields) of the site's one booked appointment."""
    [published] = await _events(booking, site_id, 1, "AppointmentBooked")
    link = urlsplit(published["manage_url"])
    asked = await booking.http.get(f"{link.path}/cancel?{link.query}")
    assert asked.status_code == 200, asked.text
    return _form(asked.text)


async def test_a_fee_changed_after_the_cancel_step_is_shown_again_not_charged(
    booking: Booking,
) -> None:
    """The site's fee is raised while the client reads the cancel step: pressing Cancel shows
    the step again with the new fee and cancels nothing; a form claiming another fee (or
    none) is refused the same way; the step's new form cancels with the fee it showed."""
    site, counselor, client = await _practice(booking)
    await charge_fee(booking, site["id"], FEE)
    booked = await booking.appointment(counselor, client, booking.at(hours=10))
    action, fields = await _cancel_step(booking, site["id"])
    assert (fields["shown_late"], fields["shown_fee"]) == ("1", "40.00 EUR")
    raised = {"amount": "60.00", "currency": "EUR"}
    await charge_fee(booking, site["id"], raised)

    pressed = await booking.http.post(action, data=fields)

    assert pressed.status_code == 409, pressed.text
    assert "60,00" in pressed.text
    assert "Les frais d'annulation tardive ont changé" in html.unescape(pressed.text)
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["status"] == "booked"
    _, again = _form(pressed.text)
    assert (again["shown_late"], again["shown_fee"]) == ("1", "60.00 EUR")
    claims = [{**again, "shown_fee": fee} for fee in ("40.00 EUR", "60.00 USD", "", "60.00")]
    claims += [{**again, "shown_fee": "sNaN EUR"}, {**again, "shown_fee": "9" * 41}]
    claims.append({k: v for k, v in again.items() if k != "shown_fee"})  # a page from before
    for claimed in claims:
        refused = await booking.http.post(action, data=claimed)
        assert refused.status_code == 409, claimed
    assert await _count(booking, site["id"], "AppointmentCancelled") == 0

    cancelled = await booking.http.post(action, data=again)

    assert cancelled.status_code == 200, cancelled.text
    assert "60,00" in cancelled.text
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert (answer["status"], answer["fee_due"]) == ("cancelled", raised)


async def test_a_fee_set_after_the_step_said_none_is_shown_before_it_is_charged(
    booking: Booking,
) -> None:
    """The step said "late, no fee"; the site then set one: shown, not charged."""
    site, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, booking.at(hours=10))
    action, fields = await _cancel_step(booking, site["id"])
    assert (fields["shown_late"], fields["shown_fee"]) == ("1", "")
    await charge_fee(booking, site["id"], FEE)

    pressed = await booking.http.post(action, data=fields)

    assert pressed.status_code == 409, pressed.text
    assert "40,00" in pressed.text
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["status"] == "booked"
    assert _form(pressed.text)[1]["shown_fee"] == "40.00 EUR"


async def test_a_fee_dropped_after_the_step_cancels_without_one(booking: Booking) -> None:
    """Charging nothing is never more than the client agreed to (a regression guard)."""
    site, counselor, client = await _practice(booking)
    await charge_fee(booking, site["id"], FEE)
    booked = await booking.appointment(counselor, client, booking.at(hours=10))
    action, fields = await _cancel_step(booking, site["id"])
    await charge_fee(booking, site["id"], None)

    cancelled = await booking.http.post(action, data=fields)

    assert cancelled.status_code == 200, cancelled.text
    answer = (await booking.get(f"/appointments/{booked['id']}")).json()
    assert (answer["status"], answer["late"], answer["fee_due"]) == ("cancelled", True, None)


async def test_the_cancellations_own_transaction_refuses_terms_the_check_before_missed(
    booking: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window closes or the fee changes after the page's check and before the
    cancellation's commit (made certain here by a check before that sees nothing): the
    cancellation's own events are vetted and the step comes back, nothing cancelled."""
    monkeypatch.setattr(manage_page, "charges_unannounced", lambda *_: False, raising=False)
    site, counselor, client = await _practice(booking)
    await charge_fee(booking, site["id"])
    raised = await booking.appointment(counselor, client, booking.at(hours=10))
    action, fields = await _cancel_step(booking, site["id"])
    await charge_fee(booking, site["id"], {"amount": "60.00", "currency": "EUR"})

    pressed = await booking.http.post(action, data=fields)

    assert pressed.status_code == 409, pressed.text
    assert "Les frais d'annulation tardive ont changé" in html.unescape(pressed.text)
    assert "60,00" in pressed.text
    assert (await booking.get(f"/appointments/{raised['id']}")).json()["status"] == "booked"

    closing = await booking.appointment(counselor, client, booking.at(hours=24, minutes=10))
    [_, published] = await _events(booking, site["id"], 2, "AppointmentBooked")
    link = urlsplit(published["manage_url"])
    action, fields = _form((await booking.http.get(f"{link.path}/cancel?{link.query}")).text)
    assert fields["shown_late"] == "0"
    booking.clock.advance(timedelta(minutes=20))

    pressed = await booking.http.post(action, data=fields)

    assert pressed.status_code == 409, pressed.text
    assert "Le délai d'annulation sans frais vient de passer" in html.unescape(pressed.text)
    assert (await booking.get(f"/appointments/{closing['id']}")).json()["status"] == "booked"
    assert await _count(booking, site["id"], "AppointmentCancelled") == 0


async def test_altered_foreign_and_started_links_are_refused_with_pages(booking: Booking) -> None:
    site, counselor, client = await _practice(booking)
    first = await booking.appointment(counselor, client, booking.at(hours=3))
    second = await booking.appointment(counselor, client, booking.at(hours=6))
    [one, _] = await _events(booking, site["id"], 2, "AppointmentBooked")
    link = urlsplit(one["manage_url"])
    token = link.query.removeprefix("token=")

    altered = await booking.http.get(f"{link.path}?token=x{token}")
    foreign = await booking.http.get(f"/appointments/{second['id']}/manage?token={token}")
    booking.clock.advance(timedelta(hours=3, minutes=1))
    started = await booking.http.get(f"{link.path}?{link.query}")

    assert one["appointment_id"] == first["id"]
    assert altered.status_code == 403
    assert foreign.status_code == 403
    assert started.status_code == 410
    for page in (altered, foreign, started):
        assert page.headers["content-type"].startswith("text/html")
        assert "<button" not in page.text
    assert '<html lang="fr">' in started.text  # genuine but late: the client's language
    # The altered and the foreign link audited as crisis audits its page links:
    # `link:invalid`, never the token; the genuine late one as its own link.
    trail = await booking.get("/audit", actor_id="invalid", limit="200")
    uses = [
        (e["resource_id"], e["status"])
        for e in trail.json()["items"]
        if e["resource_id"] in (first["id"], second["id"])
    ]
    assert uses == [(first["id"], 403), (second["id"], 403)]
    assert token not in trail.text


async def _chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
async def test_a_form_post_over_the_body_limit_is_a_413_page_in_the_browsers_language(
    booking: Booking, chunked: bool
) -> None:
    site, counselor, client = await _practice(booking)
    booked = await booking.appointment(counselor, client, booking.at(hours=50))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    page = await booking.http.get(_relative(published["manage_url"]))
    action, fields = _form(page.text)
    body = urlencode(fields | {"padding": "x" * MAX_BODY_BYTES}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept-Language": "ko-KR,ko;q=0.9",
    }

    answer = await booking.http.post(
        action, content=_chunks(body) if chunked else body, headers=headers
    )

    assert ("content-length" in answer.request.headers) is not chunked
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="ko">' in answer.text
    assert "전송한 내용이 너무 큽니다" in answer.text
    for name, value in PRIVATE_PAGE_HEADERS.items():
        assert answer.headers[name] == value
    assert (await booking.get(f"/appointments/{booked['id']}")).json()["confirmed_at"] is None
    # The JSON API keeps its problem+json.
    api = await booking.http.post(
        "/appointments",
        content=b"{" + b" " * MAX_BODY_BYTES + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert api.status_code == 413
    assert api.headers["content-type"] == "application/problem+json"
