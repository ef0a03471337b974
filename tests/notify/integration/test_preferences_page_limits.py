"""Each preferences link spends its own rate budget: one link used too often gets the page's
own 429 (HTML, `Retry-After`), while another client's link still opens."""

from typing import Any

import httpx
import pytest

from tests.notify.integration.conftest import Notify
from tests.notify.integration.test_preferences_page import client_of, page_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"rate_limit": "3/minute"}


async def test_one_link_used_too_often_is_limited_alone(notify: Notify) -> None:
    flooded, other = await client_of(notify, locale="fr"), await client_of(notify)
    async with httpx.AsyncClient(
        transport=notify.http._transport, base_url=notify.http.base_url
    ) as browser:
        url = page_url(notify, flooded)
        answers = [await browser.get(url, headers={"Accept-Language": "fr"}) for _ in range(4)]
        others = await browser.get(page_url(notify, other))

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["content-type"].startswith("text/html")
    assert "Trop d\u2019essais" in answers[3].text
    assert int(answers[3].headers["retry-after"]) >= 1
    assert others.status_code == 200
