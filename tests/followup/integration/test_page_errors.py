"""The followup pages' errors are HTML pages in the reader's language, saying what to do; the
JSON API's stay problem+json (contract v2)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.http.body_limit import MAX_BODY_BYTES
from counseling_shared.http.private_pages import PRIVATE_PAGE_HEADERS
from followup.entrypoints.web import recent_links, response_form
from tests.followup.integration.test_response_form import due_link, form_fields, path_of

pytestmark = pytest.mark.integration
FRENCH_EMERGENCY = "appelez le +33 3114 maintenant"


@pytest.fixture
def forgetful() -> Iterator[None]:
    recent_links.forget_all()
    yield
    recent_links.forget_all()


async def _link(api: httpx.AsyncClient, js: JetStreamContext) -> tuple[UUID, str]:
    _, due = await due_link(api, js)
    assert due.response_url is not None
    return due.followup_id, path_of(due.response_url)


def _is_page(answer: httpx.Response, status: int, lang: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in answer.text
    assert answer.headers["cache-control"] == "no-store"
    return html.unescape(re.sub(r"<[^>]+>", "", answer.text))  # the words a person reads


async def test_a_link_cut_before_its_token_is_a_403_page_in_the_browsers_language(
    api: httpx.AsyncClient, js: JetStreamContext, forgetful: None
) -> None:
    followup_id, path = await _link(api, js)
    bare = f"/followups/{followup_id}/response"
    korean = {"Accept-Language": "ko-KR,ko;q=0.9"}

    unknown = await api.get(bare, headers=korean)
    assert "유효하지 않은 링크입니다" in _is_page(unknown, 403, "ko")
    assert (await api.get(path, headers=korean)).status_code == 200  # the client's form (fr)
    # The id alone proves nothing: the client's language is not told to whoever has it.
    again = await api.get(bare, headers=korean)
    assert "유효하지 않은 링크입니다" in _is_page(again, 403, "ko")
    malformed = await api.get("/followups/not-an-id/response?token=x", headers=korean)
    assert "유효하지 않은 링크입니다" in _is_page(malformed, 403, "ko")


async def test_an_outage_says_try_again_later_with_the_sites_line_when_known(
    api: httpx.AsyncClient,
    js: JetStreamContext,
    monkeypatch: pytest.MonkeyPatch,
    forgetful: None,
) -> None:
    seen_id, seen = await _link(api, js)
    _, unseen = await _link(api, js)
    assert (await api.get(seen)).status_code == 200

    async def database_gone(*_: Any) -> None:
        raise ConnectionRefusedError("database unreachable")

    monkeypatch.setattr(response_form, "form_for", database_gone)
    english = {"Accept-Language": "en"}
    outage = await api.get(seen, headers=english)
    known = _is_page(outage, 503, "fr")
    assert "Indisponible pour le moment" in known
    assert FRENCH_EMERGENCY in known
    assert 'href="tel:+333114"' in outage.text
    posted = await api.post(
        f"/followups/{seen_id}/response", data={"token": seen.split("token=")[1]}
    )
    assert FRENCH_EMERGENCY in _is_page(posted, 503, "fr")
    assert "<form" not in posted.text  # nothing but the link posted: no answers to send again
    stranger = _is_page(await api.get(unseen, headers=english), 503, "en")
    assert "Please try again later" in stranger
    assert "call your local emergency number now" in stranger  # no line to name


async def test_a_bug_is_a_500_page_not_english_json(
    api: httpx.AsyncClient, js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = await _link(api, js)

    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(response_form, "form_for", broken)
    page = _is_page(await api.get(path, headers={"Accept-Language": "ru"}), 500, "ru")
    assert "Сейчас недоступно" in page


async def test_the_progress_page_answers_its_errors_as_pages_the_json_api_as_problems(
    api: httpx.AsyncClient,
) -> None:
    korean = {"Accept-Language": "ko", "Authorization": "Bearer not-a-key"}
    refused = await api.get(f"/clients/{uuid4()}/progress", headers=korean)
    assert "로그인이 필요합니다" in _is_page(refused, 401, "ko")
    assert refused.headers["www-authenticate"] == "Bearer"
    malformed = await api.get("/clients/7/progress", headers={"Accept-Language": "fr"})
    assert "Client introuvable" in _is_page(malformed, 404, "fr")

    json_api = await api.get("/clients/7/measures")
    assert json_api.status_code == 422
    assert json_api.headers["content-type"] == "application/problem+json"
    followup = await api.get("/followups/not-an-id")
    assert followup.headers["content-type"] == "application/problem+json"


async def _chunks(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
async def test_an_answer_over_the_body_limit_is_a_413_page_in_the_browsers_language(
    api: httpx.AsyncClient, js: JetStreamContext, forgetful: None, chunked: bool
) -> None:
    followup_id, path = await _link(api, js)
    token = path.split("token=", 1)[1]
    fields = form_fields([0] * 9, token=token) | {"comment": "x" * MAX_BODY_BYTES}
    body = urlencode(fields).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept-Language": "ko-KR,ko;q=0.9",
    }

    answer = await api.post(
        f"/followups/{followup_id}/response",
        content=_chunks(body) if chunked else body,
        headers=headers,
    )

    assert ("content-length" in answer.request.headers) is not chunked
    assert "보낸 내용이 너무 깁니다" in _is_page(answer, 413, "ko")
    for name, value in PRIVATE_PAGE_HEADERS.items():
        assert answer.headers[name] == value
    # The JSON API keeps its problem+json.
    api_answer = await api.post(
        "/followups",
        content=b"[" + b" " * MAX_BODY_BYTES + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert api_answer.status_code == 413
    assert api_answer.headers["content-type"] == "application/problem+json"
