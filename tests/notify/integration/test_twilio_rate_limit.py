"""Twilio's signed posts spend their own rate budgets (`twilio-texts`, `twilio-receipts`), as
the shared secret's do: a flood from the shared ingress address, wrong signatures on Twilio's
routes included, leaves Twilio's STOPs and receipts unlimited by it."""

from typing import Any
from uuid import uuid4

import pytest

from tests.fake_twilio import notify_twilio_settings, signed
from tests.minute_edge import clear_of_a_minutes_edge
from tests.notify.integration.conftest import Notify

pytestmark = pytest.mark.integration

RATE = 20
PUBLIC = "https://sms.center.example"
SMS_PATH = "/inbound/sms/twilio"


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {
        # Twilio itself is never called here.
        **notify_twilio_settings("http://127.0.0.1:9", webhook_base_url=PUBLIC),
        "rate_limit": f"{RATE}/minute",
    }


async def test_a_flood_of_wrong_signatures_does_not_starve_twilios_stops_and_receipts(
    notify: Notify,
) -> None:
    stop = {"From": f"+3366{uuid4().int % 10**7:07d}", "Body": "STOP", "MessageSid": "SM1"}
    status_path = f"/inbound/sms/twilio/status?key={uuid4()}&provider=primary"
    receipt = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    anonymous = {"Authorization": ""}

    await clear_of_a_minutes_edge()
    flood = [
        await notify.http.post(
            SMS_PATH, data=stop, headers={**anonymous, "X-Twilio-Signature": "Zm9yZ2Vk"}
        )
        for _ in range(RATE + 3)
    ]
    stopped = await notify.http.post(
        SMS_PATH, data=stop, headers={**anonymous, **signed(PUBLIC + SMS_PATH, stop)}
    )
    received = await notify.http.post(
        status_path,
        data=receipt,
        headers={**anonymous, **signed(PUBLIC + status_path, receipt)},
    )

    assert 429 in {f.status_code for f in flood}
    assert stopped.status_code == 200, stopped.text
    assert "<Response><Message>" in stopped.text
    assert received.status_code == 404, received.text  # no such notification: not a 429
