"""notify's shared secret `POST /inbound/sms` remembers each text by the provider's message id
(`twilio_posts`, as Twilio's posts are): the same id posted again (a provider's retry, a
captured request replayed) is answered `replayed` and does nothing; other ids, and texts
without an id, act as before."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from notify.adapters import opt_outs
from tests.notify.integration.conftest import Notify
from tests.notify.integration.responders import FakeBooking, FakeCrisis
from tests.notify.integration.test_reminder_replies import remind

pytestmark = pytest.mark.integration

SECRET = "inbound-replay-test-secret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"inbound_sms_secret": SECRET}


@pytest.fixture
def phone() -> str:
    return f"+3365{uuid4().int % 10**7:07d}"


async def post(notify: Notify, body: dict[str, Any]) -> httpx.Response:
    return await notify.http.post(
        "/inbound/sms",
        json=body,
        headers={b"X-Webhook-Secret": SECRET.encode(), b"Authorization": b""},
    )


async def text(notify: Notify, sender: str, words: str, **provider: Any) -> dict[str, Any]:
    answer = await post(notify, {"from": sender, "text": words, **provider})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def remembered_texts(notify: Notify) -> int:
    count: int = await notify.pool.fetchval(
        "SELECT count(*) FROM twilio_posts WHERE route = '/inbound/sms'"
    )
    return count


def replays() -> float:
    labels = {"service": "notify", "route": "/inbound/sms"}
    return REGISTRY.get_sample_value("twilio_replays_total", labels) or 0.0


async def test_a_replayed_c_confirms_once(notify: Notify, booking: FakeBooking, phone: str) -> None:
    await remind(notify, phone)
    message_id = f"msg-{uuid4()}"
    first = await text(notify, phone, "C", message_id=message_id)
    assert first["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    before = replays()

    again = await text(notify, phone, "C", message_id=message_id)

    assert again == {
        "reply": "",
        "keyword": None,
        "reminder_reply": None,
        "staff_reply": None,
        "replayed": True,
    }
    assert [r["action"] for r in booking.requests] == ["confirm"]
    assert replays() == before + 1


async def test_a_replayed_esc_escalates_once(notify: Notify, crisis: FakeCrisis) -> None:
    number = f"+3364{uuid4().int % 10**7:07d}"
    first = await text(notify, number, "ESC 1A2B3C", message_id=9_007_199_254_740_993)  # a number
    assert first["staff_reply"] == {"command": "escalate", "outcome": "answered"}

    again = await text(notify, number, "ESC 1A2B3C", messageId="9007199254740993")

    assert (again["replayed"], again["reply"], again["staff_reply"]) == (True, "", None)
    assert [r["command"] for r in crisis.requests] == ["escalate"]


async def test_different_ids_act_twice(notify: Notify, booking: FakeBooking, phone: str) -> None:
    await remind(notify, phone)

    first = await text(notify, phone, "C", messageId="SM-one")
    second = await text(notify, phone, "C", messageId="SM-two")

    assert first["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    assert second["replayed"] is False
    assert second["reminder_reply"] is not None
    assert [r["action"] for r in booking.requests] == ["confirm", "confirm"]


async def test_without_an_id_each_post_acts_as_before(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone)
    remembered = await remembered_texts(notify)

    first = await text(notify, phone, "C")
    second = await text(notify, phone, "C", message_id="not an id!")  # unusable: no id
    # A bare `id` may name the conversation: never taken for the text's own id.
    third = await text(notify, phone, "C", id="conversation-7")
    fourth = await text(notify, phone, "C", id="conversation-7")

    assert [t["replayed"] for t in (first, second, third, fourth)] == [False] * 4
    assert [r["action"] for r in booking.requests] == ["confirm"] * 4
    assert await remembered_texts(notify) == remembered


async def test_a_stop_replayed_after_a_start_does_not_opt_out_again(
    notify: Notify, phone: str
) -> None:
    stop = f"stop-{uuid4()}"
    await text(notify, phone, "STOP", message_id=stop)
    await text(notify, phone, "START", message_id=f"start-{uuid4()}")

    replayed = await text(notify, phone, "STOP", message_id=stop)

    assert replayed["replayed"] is True
    assert not await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)


async def test_a_text_whose_action_failed_acts_when_the_provider_retries_it(
    notify: Notify, phone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"from": phone, "text": "STOP", "message_id": f"retry-{uuid4()}"}

    async def database_away(*_: object, **__: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(opt_outs, "opt_out", database_away)
    try:
        failed = await post(notify, body)
        assert failed.status_code >= 500
    except ConnectionError:
        pass  # (the test client hands the app's exception on)
    monkeypatch.undo()

    retried = await post(notify, body)

    assert retried.status_code == 200, retried.text
    assert retried.json()["replayed"] is False
    assert await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)
