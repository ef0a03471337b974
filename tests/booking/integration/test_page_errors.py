"""booking's client pages answer what they cannot answer themselves (a link cut or altered in
its id, too many tries, an outage, a bug) as a page in the browser's language with the private
pages' headers, never English problem+json; the JSON API keeps problem+json."""

from __future__ import annotations

import html
import re
from typing import Any
from uuid import uuid4

import httpx
import pytest
from starlette.requests import Request

from booking.entrypoints.web import manage_page, offer_page
from booking.entrypoints.web.page_errors import html_error_page
from counseling_shared import audit_batch
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from tests.booking.integration.support import Booking
from tests.booking.integration.test_manage_link import _events, _practice, _relative

pytestmark = pytest.mark.integration
KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9"}


def _is_page(answer: httpx.Response, status: int, lang: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in answer.text
    for name, value in PRIVATE_PAGE_HEADERS.items():
        assert answer.headers[name] == value
    return html.unescape(re.sub(r"<[^>]+>", "", answer.text))  # the words a person reads


async def _manage_link(booking: Booking) -> str:
    site, counselor, client = await _practice(booking)
    await booking.appointment(counselor, client, booking.at(hours=50))
    [published] = await _events(booking, site["id"], 1, "AppointmentBooked")
    return _relative(published["manage_url"])


async def test_a_link_whose_id_is_cut_or_altered_is_a_403_page_not_json(
    booking: Booking,
) -> None:
    manage = await booking.http.get("/appointments/not-an-id/manage?token=x", headers=KOREAN)
    assert "유효하지 않은 링크" in _is_page(manage, 403, "ko")
    cancel = await booking.http.get("/appointments/7/manage/cancel?token=x", headers=KOREAN)
    _is_page(cancel, 403, "ko")
    offer = await booking.http.get("/waitlist/offers/7/accept?token=x", headers=KOREAN)
    assert "유효하지 않은 링크" in _is_page(offer, 403, "ko")
    posted = await booking.http.post(
        "/waitlist/offers/7/decline", data={"token": "x"}, headers=KOREAN
    )
    _is_page(posted, 403, "ko")
    # The JSON API (the same path, a JSON caller) keeps its problem+json.
    api = await booking.http.post("/waitlist/offers/7/decline?token=x")
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/problem+json"


async def test_a_buttons_address_opened_as_a_link_is_a_405_page_with_allow(
    booking: Booking,
) -> None:
    link = await _manage_link(booking)
    confirm = link.split("?")[0] + "/confirm"
    opened = await booking.http.get(confirm, headers=KOREAN)
    assert "유효하지 않은 링크" in _is_page(opened, 405, "ko")
    assert opened.headers["allow"] == "POST"
    declined = await booking.http.get(f"/waitlist/offers/{uuid4()}/decline", headers=KOREAN)
    _is_page(declined, 405, "ko")
    # A program's call keeps problem+json.
    program = await booking.http.put(confirm)
    assert program.status_code == 405
    assert program.headers["content-type"] == "application/problem+json"


async def test_an_outage_says_try_again_later_in_the_readers_language(
    booking: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = await _manage_link(booking)
    assert (await booking.http.get(link)).status_code == 200

    async def database_gone(*_: Any) -> None:
        raise ConnectionRefusedError("database unreachable")

    monkeypatch.setattr(manage_page, "_load", database_gone)
    outage = await booking.http.get(link, headers={"Accept-Language": "ru"})
    assert "Сейчас недоступно" in _is_page(outage, 503, "ru")
    # When to try again, as the JSON API's 503 says it.
    assert outage.headers["retry-after"] == "5"


async def test_a_page_whose_read_cannot_be_audited_is_a_503_page_with_retry_after(
    booking: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No disclosure without its audit entry: the page is withheld, and the person's 503 page
    says when to try again (`Retry-After`) as the problem+json answer does."""
    link = await _manage_link(booking)

    async def trail_down(*_: Any) -> None:
        raise ConnectionError("the audit entry cannot be written")

    monkeypatch.setattr(audit_batch, "record", trail_down)
    page = await booking.http.get(link, headers={"Accept-Language": "ru"})
    assert "Сейчас недоступно" in _is_page(page, 503, "ru")
    assert page.headers["retry-after"] == "5"
    api = await booking.get("/sites")
    assert api.status_code == 503
    assert api.headers["content-type"] == "application/problem+json"
    assert api.headers["retry-after"] == "5"


async def test_a_bug_on_the_offer_page_is_a_500_page_not_english_json(
    booking: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(offer_page, "_open", broken)
    page = await booking.http.get(
        f"/waitlist/offers/{uuid4()}/accept?token=x", headers={"Accept-Language": "fr"}
    )
    assert "Indisponible pour le moment" in _is_page(page, 500, "fr")


def _request(method: str, path: str, content_type: str = "") -> Request:
    headers = [(b"accept-language", b"ru")]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
    }
    return Request(scope)


def test_too_many_tries_on_a_page_is_a_page_and_on_the_json_api_is_left_to_problem_json() -> None:
    form = "application/x-www-form-urlencoded"
    for method, path, kind in (
        ("GET", f"/appointments/{uuid4()}/manage", ""),
        ("POST", f"/appointments/{uuid4()}/manage/confirm", form),
        ("GET", f"/waitlist/offers/{uuid4()}/accept", ""),
        ("POST", f"/waitlist/offers/{uuid4()}/accept", form),
    ):
        page = html_error_page(_request(method, path, kind), 429)
        assert page is not None, path
        assert page.status_code == 429
        assert "Слишком много попыток".encode() in bytes(page.body)
    json_caller = _request("POST", f"/waitlist/offers/{uuid4()}/accept", "application/json")
    assert html_error_page(json_caller, 429) is None
    assert html_error_page(_request("GET", f"/appointments/{uuid4()}"), 429) is None
