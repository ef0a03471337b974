"""The rate limit protects the routes people need in an emergency: a flood of anonymous
requests (or made-up bearers) from the shared ingress address is limited, while a page
acknowledgement through its signed link and the SMS provider's callback still go through."""

import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
    twilio_sms,
)
from tests.crisis.integration.steps import (
    INBOUND_SMS_SECRET,
    alert,
    flag,
    put_policy,
    register_staff,
)
from tests.fake_twilio import signed
from tests.minute_edge import clear_of_a_minutes_edge

pytestmark = pytest.mark.integration

RATE = 20
PUBLIC = "https://crisis.center.example"
TWILIO_PATH = "/inbound/sms/twilio"


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(
        INBOUND_SMS_SECRET=INBOUND_SMS_SECRET, RATE_LIMIT=f"{RATE}/minute", **twilio_sms(PUBLIC)
    ) as running:
        yield running


async def _page(crisis: RunningCrisis, bus: Bus) -> tuple[str, dict[str, Any]]:
    site_id = uuid4()
    staff = await register_staff(bus, site_id, 1)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S")], repeat=0)
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def found() -> dict[str, Any] | None:
        paged = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return paged[0] if paged else None

    return alert_id, await eventually(found, timeout=10)


async def test_a_flood_from_the_shared_address_does_not_starve_a_page_ack_or_the_sms_provider(
    crisis: RunningCrisis, bus: Bus
) -> None:
    alert_id, page = await _page(crisis, bus)
    parts = urlsplit(page["ack_url"])
    path, token = parts.path, parse_qs(parts.query)["token"][0]

    # Here, not as a fixture: the page above takes seconds to come.
    await clear_of_a_minutes_edge()
    flood = [
        await crisis.http.get(
            "/alerts", headers={"Authorization": f"Bearer {secrets.token_hex(8)}"}
        )
        for _ in range(RATE + 5)
    ]
    wrong_sms = [
        await crisis.http.post(
            "/inbound/sms",
            json={"from": "+15550000000", "text": "hi"},
            headers={"X-Webhook-Secret": "wrong", "Authorization": ""},
        )
        for _ in range(3)
    ]
    acked = await crisis.http.post(
        f"{path}/ack", data={"token": token}, headers={"Authorization": ""}
    )
    provider = await crisis.http.post(
        "/inbound/sms",
        json={"from": "+15550000000", "text": "hello"},
        headers={"X-Webhook-Secret": INBOUND_SMS_SECRET, "Authorization": ""},
    )

    # Made-up bearers spend the address's budget, not a fresh one each.
    assert 429 in {f.status_code for f in flood}
    assert {w.status_code for w in wrong_sms} == {429}
    assert acked.status_code == 200, acked.text
    assert (await alert(crisis, alert_id))["status"] == "acknowledged"
    assert provider.status_code == 200, provider.text


async def test_a_flood_of_wrong_signatures_does_not_starve_twilios_signed_replies(
    crisis: RunningCrisis,
) -> None:
    """Twilio's signature covers the form, so the limiter checks it on the (small) form: a
    signed reply spends Twilio's own budget, never the flooded address's."""
    params = {"From": "+15550000001", "To": "+15005550006", "Body": "hello", "MessageSid": "SM1"}
    forged = {"X-Twilio-Signature": "bm90IHR3aWxpbw==", "Authorization": ""}
    rightly = {**signed(PUBLIC + TWILIO_PATH, params), "Authorization": ""}

    await clear_of_a_minutes_edge()
    flood = [
        await crisis.http.post(TWILIO_PATH, data=params, headers=forged) for _ in range(RATE + 3)
    ]
    replies = [await crisis.http.post(TWILIO_PATH, data=params, headers=rightly) for _ in range(3)]

    assert 429 in {f.status_code for f in flood}
    assert [r.status_code for r in replies] == [200] * 3, replies[-1].text
    assert all(r.headers["content-type"].startswith("application/xml") for r in replies)
