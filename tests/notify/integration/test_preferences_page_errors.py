"""The preferences page answers what it cannot answer itself (a link cut or altered in its id,
an outage, a bug) as a page in the browser's language with the private pages' headers, never
English problem+json; notify's JSON API keeps problem+json."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from notify.entrypoints.web import preferences_page
from tests.notify.integration.conftest import Notify
from tests.notify.integration.test_preferences_page import browser_client, client_of, page_url

pytestmark = pytest.mark.integration
__all__ = ["browser_client"]  # the fixture, used by name


@pytest.fixture
async def bare_browser(notify: Notify) -> AsyncIterator[httpx.AsyncClient]:
    """No API key, and a bug is answered as a server answers it (the test transport would
    raise it at the test instead, after the answer)."""
    app = notify.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=notify.http.base_url) as client:
        yield client


def _is_page(answer: httpx.Response, status: int, lang: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in answer.text
    for name, value in PRIVATE_PAGE_HEADERS.items():
        assert answer.headers[name] == value
    return html.unescape(re.sub(r"<[^>]+>", "", answer.text))  # the words a person reads


async def test_a_link_whose_id_is_cut_or_altered_is_a_403_page_not_json(
    browser_client: httpx.AsyncClient,
) -> None:
    korean = {"Accept-Language": "ko-KR,ko;q=0.9"}
    shown = await browser_client.get("/recipients/7/preferences/page?token=x", headers=korean)
    words = _is_page(shown, 403, "ko")
    posted = await browser_client.post(
        "/recipients/7/preferences/page", data={"token": "x"}, headers=korean
    )
    assert _is_page(posted, 403, "ko") == words
    api = await browser_client.get("/recipients/7/preferences")
    assert api.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("failure", "status"), [(ConnectionRefusedError, 503), (RuntimeError, 500)]
)
async def test_an_outage_or_a_bug_says_try_again_later_in_the_readers_language(
    notify: Notify,
    bare_browser: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    failure: type[Exception],
    status: int,
) -> None:
    url = page_url(notify, await client_of(notify, locale="fr"))

    async def failing(*_: Any) -> None:
        raise failure("the database went away, or a bug")

    monkeypatch.setattr(preferences_page, "_open", failing)
    answer = await bare_browser.get(url, headers={"Accept-Language": "ru"})
    assert "Попробуйте позже" in _is_page(answer, status, "ru")
    posted = await bare_browser.post(
        url.split("?")[0], data={"token": url.split("token=")[1]}, headers={"Accept-Language": "ru"}
    )
    _is_page(posted, status, "ru")
    assert str(uuid4()) not in answer.text
