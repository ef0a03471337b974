"""The shared list pagination: opaque cursors that round-trip, and a 422 for anything else."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from counseling_shared.http.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGED,
    InvalidCursor,
    Page,
    decode_cursor,
    encode_cursor,
)
from counseling_shared.http.problems import install_problem_handlers

ITEMS = [(datetime(2030, 1, 1, 9, n, tzinfo=UTC), UUID(int=n)) for n in range(7)]


def test_a_cursor_round_trips_its_sort_key() -> None:
    key = (datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid4(), 42, "text")

    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("garbage", ["", "%%%", "bm90IGpzb24", "W10", "W1sieCIsIjEiXV0"])
def test_anything_but_a_cursor_does_not_decode(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(garbage)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/things")
    async def things(page: Page) -> list[dict[str, Any]]:
        after = page.after(datetime, UUID)
        rest = [i for i in ITEMS if after is None or i > after][: page.fetch]
        return [
            {"at": at.isoformat(), "id": str(ident)}
            for at, ident in page.serve(rest, key=lambda i: i)
        ]

    return app


async def _get(params: dict[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get("/things", params=params)


async def test_following_next_cursor_serves_every_item_once_in_order() -> None:
    served: list[str] = []
    params: dict[str, Any] = {"limit": 3, "kind": "kept"}
    links = []
    while True:
        answer = await _get(params)
        assert answer.status_code == 200
        served += [row["id"] for row in answer.json()]
        if "next-cursor" not in answer.headers:
            assert "link" not in answer.headers
            break
        links.append(answer.headers["link"])
        params = {"limit": 3, "kind": "kept", "cursor": answer.headers["next-cursor"]}

    assert served == [str(ident) for _, ident in ITEMS]
    assert len(links) == 2
    assert links[0].startswith("</things?")
    assert links[0].endswith('>; rel="next"')
    assert "kind=kept" in links[0]
    assert "cursor=" in links[0]


async def test_the_default_page_is_fifty_and_more_than_two_hundred_is_a_422() -> None:
    assert (DEFAULT_LIMIT, MAX_LIMIT) == (50, 200)

    too_many = await _get({"limit": MAX_LIMIT + 1})

    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", encode_cursor([uuid4()]), encode_cursor([uuid4(), datetime.now(UTC)])],
    # Stable ids: parallel workers must collect the same tests.
    ids=["not-a-cursor", "one-key", "two-keys"],
)
async def test_a_cursor_that_does_not_fit_the_list_is_a_422(cursor: str) -> None:
    answer = await _get({"cursor": cursor})

    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "cursor", "message": "not a cursor this list gave out"}
    ]


def test_the_openapi_document_names_the_paging_headers() -> None:
    app = FastAPI()

    @app.get("/things", responses=PAGED)
    async def things(page: Page) -> list[int]:
        return page.serve([], key=lambda i: (i,))

    ok = app.openapi()["paths"]["/things"]["get"]["responses"]["200"]
    parameters = {p["name"] for p in app.openapi()["paths"]["/things"]["get"]["parameters"]}

    assert set(ok["headers"]) == {"Link", "Next-Cursor"}
    assert parameters == {"limit", "cursor"}
