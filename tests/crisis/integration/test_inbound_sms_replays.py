"""crisis's shared secret `POST /inbound/sms` remembers each text by the provider's message id
(`twilio_posts`, as Twilio's posts are): the same id posted again (a provider's retry, a
captured request replayed) is answered `replayed`, acts on nothing and is not audited as the
staff member acting again; other ids, and texts without an id, act as before."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest

from tests.crisis.integration.harness import Bus, RunningCrisis, StartCrisis
from tests.crisis.integration.steps import alert, kinds
from tests.crisis.integration.test_twilio_replays import audit_rows, phone
from tests.crisis.integration.test_twilio_replies import paged

pytestmark = pytest.mark.integration

SECRET = "crisis-inbound-replay-secret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(INBOUND_SMS_SECRET=SECRET) as running:
        yield running


async def text(crisis: RunningCrisis, sender: str, words: str, **provider: Any) -> dict[str, Any]:
    answer = await crisis.http.post(
        "/inbound/sms",
        json={"from": sender, "text": words, **provider},
        headers={"X-Webhook-Secret": SECRET, "Authorization": ""},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_replayed_ack_acknowledges_once(crisis: RunningCrisis, bus: Bus) -> None:
    number = phone()
    alert_id, code, first = await paged(crisis, bus, [number, phone()])
    message_id = f"msg-{uuid4()}"
    acked = await text(crisis, number, f"ACK {code}", message_id=message_id)
    assert "acknowledged" in acked["reply"]
    entries, view = await audit_rows(crisis), await alert(crisis, alert_id)

    replayed = await text(crisis, number, f"ACK {code}", message_id=message_id)

    assert replayed == {"reply": "", "replayed": True}
    assert await audit_rows(crisis) == entries
    assert await alert(crisis, alert_id) == view
    assert view["acknowledged_by"] == str(first)


async def test_a_replayed_esc_escalates_once(crisis: RunningCrisis, bus: Bus) -> None:
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    escalated = await text(crisis, number, f"ESC {code}", message_id="0f3a-77")
    assert escalated["replayed"] is False
    entries, view = await audit_rows(crisis), await alert(crisis, alert_id)
    assert view["current_level"] == 2

    replayed = await text(crisis, number, f"ESC {code}", message_id="0f3a-77")

    assert replayed == {"reply": "", "replayed": True}
    assert await audit_rows(crisis) == entries
    assert await alert(crisis, alert_id) == view
    assert kinds(view).count("escalated_by_staff") == 1


async def test_different_ids_and_no_id_act_each_time(crisis: RunningCrisis, bus: Bus) -> None:
    """Each acts (and is audited as the staff member): the second ESC of the same step is
    answered that the alert moved on, as it always was."""
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    await text(crisis, number, f"ESC {code}", messageId="first")
    entries = await audit_rows(crisis)

    other_id = await text(crisis, number, f"ESC {code}", messageId="second")
    no_id = await text(crisis, number, f"ESC {code}")

    assert (other_id["replayed"], no_id["replayed"]) == (False, False)
    assert other_id["reply"]
    assert no_id["reply"]
    assert await audit_rows(crisis) == entries + 2
    assert (await alert(crisis, alert_id))["current_level"] == 2
