"""The footer link of a client's booking confirmation opens notify's preferences page with the
channels booking's directory really has addresses for; saving it changes what notify stores.
Booking → notify (and booking's directory over NATS) → the client's inbox → notify's page."""

import re

import httpx
import pytest

from tests.e2e.center import Center, created, emails_to, unique_email, unique_phone
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e
_LINK = re.compile(r"(https?://\S+/preferences/page)\?token=(\S+)")


async def test_the_confirmation_emails_footer_opens_the_page_and_saving_it_is_stored(
    suite: Suite,
) -> None:
    center = await Center.open(suite, locale="ru")
    address = unique_email("prefs")
    client = await center.register_client(email=address, phone=unique_phone(), locale="ru")
    await center.book_soon(client["id"], in_seconds=3 * 24 * 3600)
    [email] = await eventually(lambda: emails_to(suite.sinks, address), timeout=20)
    found = _LINK.search(email.body)
    assert found is not None, email.body
    page_url, token = found[1], found[2]
    assert f"/recipients/{client['id']}/" in page_url

    async with httpx.AsyncClient(timeout=10.0) as browser:  # no API key: the token only
        shown = await browser.get(page_url, params={"token": token})
        assert shown.status_code == 200, shown.text
        assert 'lang="ru"' in shown.text
        assert 'value="email"' in shown.text
        assert 'value="sms"' in shown.text  # booking holds a phone number for the client
        saved = await browser.post(
            page_url,
            data={"token": token, "channel": "sms", "quiet_start": "22:00", "quiet_end": "07:30"},
        )
        assert saved.status_code == 200, saved.text

    async with suite.client("notify") as notify:
        stored = created(await notify.get(f"/recipients/{client['id']}/preferences"))
    assert stored["channel"] == "sms"
    assert stored["quiet_hours"] == {"start": "22:00", "end": "07:30"}
