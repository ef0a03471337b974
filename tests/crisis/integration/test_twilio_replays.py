"""Twilio's signature has no timestamp: a captured `ACK <code>` or key press replayed must not
act (or be audited as the staff member acting) again. crisis remembers each signed post that
acted by its Twilio id (`twilio_posts`). And one number's texts beyond
INBOUND_SMS_PER_NUMBER_LIMIT get no action and no reply."""

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from counseling_shared import twilio_signature
from tests.crisis.integration.harness import Bus, RunningCrisis, StartCrisis, twilio_sms
from tests.crisis.integration.steps import alert
from tests.crisis.integration.test_twilio_replies import paged
from tests.fake_twilio import signed

pytestmark = pytest.mark.integration

PUBLIC = "https://crisis.center.example"
PATH = "/inbound/sms/twilio"
GATHER = "/inbound/voice/twilio/gather"
SECRET = "crisis-replay-secret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(
        **twilio_sms(PUBLIC), INBOUND_SMS_SECRET=SECRET, INBOUND_SMS_PER_NUMBER_LIMIT="3/minute"
    ) as running:
        yield running


async def post(crisis: RunningCrisis, path: str, params: dict[str, str]) -> httpx.Response:
    headers = signed(PUBLIC + path, params)
    return await crisis.http.post(path, data=params, headers={**headers, "Authorization": ""})


def text(sender: str, body: str) -> dict[str, str]:
    return {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM" + uuid4().hex}


def phone() -> str:
    return f"+3369{uuid4().int % 10**7:07d}"


async def audit_rows(crisis: RunningCrisis) -> int:
    count: int = await crisis.runtime.db().fetchval(
        "SELECT count(*) FROM audit WHERE actor_kind = 'staff' OR on_behalf_of IS NOT NULL"
    )
    return count


async def test_a_replayed_ack_is_answered_empty_and_leaves_the_audit_unchanged(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, first = await paged(crisis, bus, [number, phone()])
    ack = text(number, f"ACK {code}")
    acked = await post(crisis, PATH, ack)
    assert "acknowledged" in acked.text
    entries = await audit_rows(crisis)
    view = await alert(crisis, alert_id)

    replayed = await post(crisis, PATH, ack)

    assert (replayed.status_code, replayed.text) == (200, twilio_signature.twiml())
    assert await audit_rows(crisis) == entries
    assert await alert(crisis, alert_id) == view
    assert view["acknowledged_by"] == str(first)


async def test_a_replayed_key_press_hangs_up_and_leaves_the_audit_unchanged(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    press = {"CallSid": "CA" + uuid4().hex, "To": number, "Digits": "1"}
    path = f"{GATHER}?code={code}"
    assert "acknowledged" in (await post(crisis, path, press)).text.lower()
    entries = await audit_rows(crisis)

    replayed = await post(crisis, path, press)

    assert replayed.status_code == 200
    assert "<Hangup" in replayed.text
    assert "<Say" not in replayed.text
    assert await audit_rows(crisis) == entries
    assert (await alert(crisis, alert_id))["status"] == "acknowledged"


async def test_a_replayed_escalation_key_hangs_up_and_leaves_the_audit_unchanged(
    crisis: RunningCrisis, bus: Bus
) -> None:
    """Key 3 escalates now: its replay must not be audited as the staff member asking again
    (the escalation itself would be refused, the step having moved on)."""
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    press = {"CallSid": "CA" + uuid4().hex, "To": number, "Digits": "3"}
    path = f"{GATHER}?code={code}"
    assert (await post(crisis, path, press)).status_code == 200
    entries = await audit_rows(crisis)
    view = await alert(crisis, alert_id)
    assert view["current_level"] == 2

    replayed = await post(crisis, path, press)

    assert replayed.status_code == 200
    assert "<Hangup" in replayed.text
    assert "<Say" not in replayed.text
    assert await audit_rows(crisis) == entries
    assert await alert(crisis, alert_id) == view


@pytest.mark.usefixtures("minute_edge_cleared")
async def test_texts_past_the_numbers_budget_get_no_action_and_no_reply(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, _ = await paged(crisis, bus, [number, phone()])
    for _ in range(3):
        assert "<Message>" in (await post(crisis, PATH, text(number, "HELP"))).text

    past = await post(crisis, PATH, text(number, f"ACK {code}"))
    by_secret = await crisis.http.post(
        "/inbound/sms",
        json={"from": number, "text": f"ACK {code}"},
        headers={"X-Webhook-Secret": SECRET, "Authorization": ""},
    )

    assert (past.status_code, past.text) == (200, twilio_signature.twiml())
    assert (by_secret.status_code, by_secret.json()) == (200, {"reply": "", "replayed": False})
    assert (await alert(crisis, alert_id))["status"] == "open"
