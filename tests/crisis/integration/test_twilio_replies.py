"""Staff replies to pages through Twilio (`SMS_PROVIDER=twilio`): `ACK <code>` posted as
Twilio's signed form to `POST /inbound/sms/twilio` acknowledges the alert as the staff member
whose phone sent it and is answered in TwiML; a post Twilio did not sign for crisis's public
URL (crisis sits behind a proxy) is refused before anything is read or acknowledged."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
    twilio_sms,
)
from tests.crisis.integration.steps import alert, flag, put_policy, register_staff
from tests.fake_twilio import signed

pytestmark = pytest.mark.integration

PUBLIC = "https://crisis.center.example/sms"  # the ingress strips `/sms`
PATH = "/inbound/sms/twilio"


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(**twilio_sms(PUBLIC)) as running:
        yield running


async def paged(crisis: RunningCrisis, bus: Bus, phones: list[str]) -> tuple[str, str, UUID]:
    """An open alert paging the first of two staff members: its id, reply code, who."""
    site_id = uuid4()
    staff = await register_staff(bus, site_id, 2, phones)
    await put_policy(crisis, site_id, [([staff[0]], "PT60S"), ([staff[1]], "PT60S")], repeat=0)
    alert_id = str((await flag(crisis, site_id, uuid4()))["alert_id"])

    async def page() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return found[0] if found else None

    return alert_id, (await eventually(page, timeout=10))["reply_code"], staff[0]


async def twilio_post(
    crisis: RunningCrisis, sender: str, text: str, url: str = PUBLIC + PATH
) -> httpx.Response:
    params = {"From": sender, "To": "+15005550006", "Body": text, "MessageSid": "SM" + uuid4().hex}
    return await crisis.http.post(
        PATH, data=params, headers={**signed(url, params), "Authorization": ""}
    )


async def test_an_ack_through_twilio_acknowledges_and_is_answered_in_twiml(
    crisis: RunningCrisis, bus: Bus
) -> None:
    alert_id, code, first = await paged(crisis, bus, ["+33 6 22 34 56 78", "+33622222222"])

    # Signed for the URL crisis sees rather than the public one: refused, nothing acknowledged.
    seen_inside = await twilio_post(crisis, "+33622345678", f"ACK {code}", "http://crisis" + PATH)
    assert seen_inside.status_code == 401
    assert seen_inside.headers["content-type"] == "application/problem+json"
    assert (await alert(crisis, alert_id))["status"] == "open"

    acked = await twilio_post(crisis, "+33622345678", f"ACK {code}")

    assert acked.status_code == 200, acked.text
    assert acked.headers["content-type"].startswith("application/xml")
    assert "<Response><Message>" in acked.text
    assert "acknowledged" in acked.text
    view = await alert(crisis, alert_id)
    assert (view["status"], view["acknowledged_by"]) == ("acknowledged", str(first))


async def test_without_the_signature_a_malformed_post_is_a_401(crisis: RunningCrisis) -> None:
    answer = await crisis.http.post(PATH, content=b"\xff{", headers={"Authorization": ""})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "Missing X-Twilio-Signature."


async def test_the_shared_secret_route_is_unchanged_and_unconfigured_here(
    crisis: RunningCrisis,
) -> None:
    answer = await crisis.http.post(
        "/inbound/sms", json={"from": "+33600000000", "text": "hi"}, headers={"Authorization": ""}
    )
    assert answer.status_code == 503  # no INBOUND_SMS_SECRET: Twilio's route is the way in
