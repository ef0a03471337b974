"""GET /alerts a page at a time, newest first: the pages join up to every alert, once each."""

from uuid import uuid4

import pytest

from tests.crisis.integration.harness import RunningCrisis
from tests.crisis.integration.steps import flag

pytestmark = pytest.mark.integration


async def test_alerts_come_in_pages_that_join_up_to_every_alert_of_the_site(
    crisis: RunningCrisis,
) -> None:
    site = uuid4()
    opened = {(await flag(crisis, site, uuid4()))["alert_id"] for _ in range(5)}

    pages: list[list[str]] = []
    params = {"site_id": str(site), "limit": "2"}
    while True:
        answer = await crisis.http.get("/alerts", params=params)
        assert answer.status_code == 200, answer.text
        pages.append([a["id"] for a in answer.json()])
        if "next-cursor" not in answer.headers:
            break
        assert answer.headers["link"].endswith('>; rel="next"')
        params = {**params, "cursor": answer.headers["next-cursor"]}

    served = [a for page in pages for a in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(served) == sorted(opened)
