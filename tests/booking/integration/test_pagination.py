"""booking's lists come a page at a time: a plain array, the next cursor in `Link` and
`Next-Cursor`."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.booking.integration.support import Booking

pytestmark = pytest.mark.integration


async def test_a_sites_staff_come_in_pages_that_join_up_to_the_whole_roster(
    booking: Booking,
) -> None:
    site = await booking.site()
    registered = []
    for _ in range(5):
        registered.append((await booking.counselor(site["id"]))["id"])
        booking.clock.advance(timedelta(seconds=1))

    pages: list[list[str]] = []
    params = {"site_id": site["id"], "limit": "2"}
    while True:
        answer = await booking.get("/staff", **params)
        assert answer.status_code == 200, answer.text
        pages.append([m["id"] for m in answer.json()])
        cursor = answer.headers.get("next-cursor")
        if cursor is None:
            break
        target, relation = answer.headers["link"].split("; ")
        link = urlsplit(target.strip("<>"))
        assert (link.path, relation) == ("/staff", 'rel="next"')
        assert parse_qs(link.query) == {
            "site_id": [site["id"]],
            "limit": ["2"],
            "cursor": [cursor],
        }
        params = {**params, "cursor": cursor}

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [m for p in pages for m in p] == registered


async def test_appointments_default_to_fifty_and_refuse_a_foreign_cursor(booking: Booking) -> None:
    site = await booking.site()
    staff_page = await booking.get("/staff", limit="1")
    clients = await booking.get("/clients", site_id=site["id"])

    foreign = await booking.get("/appointments", cursor="bm90LWEtY3Vyc29y")
    too_big = await booking.get("/appointments", limit="201")

    assert clients.status_code == 200
    assert clients.json() == []
    assert "next-cursor" not in clients.headers
    assert staff_page.status_code == 200
    assert foreign.status_code == 422
    assert too_big.status_code == 422
