"""A page call's posts Twilio signed spend their own rate budget (`twilio-calls`): a flood
from the shared ingress address, wrong signatures on the call's routes included, cannot make
a staff member's key press a 429."""

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from tests.crisis.integration.harness import Bus, RunningCrisis, StartCrisis, twilio_sms
from tests.crisis.integration.steps import alert
from tests.crisis.integration.test_voice_calls import CALL, PUBLIC, paged, phone, twilio_post
from tests.minute_edge import clear_of_a_minutes_edge

pytestmark = pytest.mark.integration

RATE = 20


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(**twilio_sms(PUBLIC), RATE_LIMIT=f"{RATE}/minute") as running:
        yield running


async def test_a_flood_of_wrong_signatures_does_not_starve_a_key_press(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, first, _ = await paged(crisis, bus, number)
    gather = f"{CALL}/gather?code={code}"
    forged = {"To": number, "Digits": "1", "CallSid": "CA" + uuid4().hex}

    await clear_of_a_minutes_edge()
    flood = [
        await crisis.http.post(
            gather, data=forged, headers={"Authorization": "", "X-Twilio-Signature": "Zm9yZ2Vk"}
        )
        for _ in range(RATE + 3)
    ]
    pressed = await twilio_post(crisis, gather, number, Digits="1")

    assert 429 in {f.status_code for f in flood}
    assert pressed.status_code == 200, pressed.text
    view = await alert(crisis, alert_id)
    assert (view["status"], view["acknowledged_by"]) == ("acknowledged", str(first))
