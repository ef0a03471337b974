"""Twilio's signature has no timestamp: a captured post replayed must not act again. notify
remembers each signed post that acted by its Twilio id (`twilio_posts`): a replay is answered
an empty TwiML (or 204) and changes nothing; an action that failed is not remembered, so
Twilio's retry (the same `MessageSid`) acts. And one number's texts beyond
INBOUND_SMS_PER_NUMBER_LIMIT get no action and no reply, on Twilio's route and the shared
secret's."""

from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from counseling_shared import twilio_signature
from notify.adapters import opt_outs
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio, notify_twilio_settings, signed
from tests.notify.integration.conftest import Notify, text_in
from tests.notify.integration.test_twilio import callback_of, message_to

pytestmark = pytest.mark.integration

PUBLIC = "https://sms.center.example"
SMS_PATH = "/inbound/sms/twilio"
SECRET = "replay-secret"  # noqa: S105 (a test credential)
EMPTY = twilio_signature.twiml()


@pytest.fixture(scope="module")
def notify_overrides(twilio: FakeTwilio) -> dict[str, Any]:
    return {
        **notify_twilio_settings(twilio.url, webhook_base_url=PUBLIC),
        "inbound_sms_secret": SECRET,
        "inbound_sms_per_number_limit": "5/minute",
    }


@pytest.fixture
def phone() -> str:
    return f"+3367{uuid4().int % 10**7:07d}"


def sid() -> str:
    return "SM" + uuid4().hex


async def post(notify: Notify, path: str, params: dict[str, str]) -> httpx.Response:
    headers = signed(PUBLIC + path, params, AUTH_TOKEN)
    return await notify.http.post(path, data=params, headers={**headers, "Authorization": ""})


def text(sender: str, body: str, message_sid: str) -> dict[str, str]:
    return {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": message_sid}


def replays(route: str) -> float:
    labels = {"service": "notify", "route": route}
    return REGISTRY.get_sample_value("twilio_replays_total", labels) or 0.0


async def opted_out(notify: Notify, phone: str) -> bool:
    return await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)


async def test_a_stop_replayed_after_a_start_does_not_opt_out_again(
    notify: Notify, phone: str
) -> None:
    stop = text(phone, "STOP", sid())
    assert (await post(notify, SMS_PATH, stop)).status_code == 200
    started = await post(notify, SMS_PATH, text(phone, "START", sid()))
    assert started.status_code == 200
    assert "<Message>" in started.text
    assert not await opted_out(notify, phone)
    before = replays(SMS_PATH)

    replayed = await post(notify, SMS_PATH, stop)

    assert (replayed.status_code, replayed.text) == (200, EMPTY)
    assert not await opted_out(notify, phone)
    assert replays(SMS_PATH) == before + 1


async def test_a_post_whose_action_failed_acts_when_twilio_retries_it(
    notify: Notify, phone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio retries a 5xx (or a timeout) with the same MessageSid: it must still act."""
    stop = text(phone, "STOP", sid())

    async def database_away(*_: object, **__: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(opt_outs, "opt_out", database_away)
    try:
        failed = await post(notify, SMS_PATH, stop)
        assert failed.status_code >= 500
    except ConnectionError:
        pass  # (the test client hands the app's exception on)
    monkeypatch.undo()
    assert not await opted_out(notify, phone)

    retried = await post(notify, SMS_PATH, stop)

    assert retried.status_code == 200
    assert "<Message>" in retried.text
    assert await opted_out(notify, phone)


async def test_a_post_claimed_by_a_request_that_died_is_taken_over_after_its_lease(
    notify: Notify, phone: str
) -> None:
    """A process that died between claiming and acting: within the lease the retry is told to
    come again (503: the first may still act); past it, the retry acts."""
    message_sid = sid()
    await notify.pool.execute(
        "INSERT INTO twilio_posts (post_key, route) VALUES ($1, $2)",
        f"text:{message_sid}",
        SMS_PATH,
    )
    stop = text(phone, "STOP", message_sid)
    assert (await post(notify, SMS_PATH, stop)).status_code == 503
    assert not await opted_out(notify, phone)
    await notify.pool.execute(
        "UPDATE twilio_posts SET received_at = now() - interval '31 seconds' WHERE post_key = $1",
        f"text:{message_sid}",
    )

    taken_over = await post(notify, SMS_PATH, stop)

    assert taken_over.status_code == 200
    assert "<Message>" in taken_over.text
    assert await opted_out(notify, phone)
    assert (await post(notify, SMS_PATH, stop)).text == EMPTY


async def test_a_failed_receipt_replayed_after_delivered_changes_nothing(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    detail = await message_to(notify, phone)
    callback = callback_of(twilio, phone)
    message_sid = sid()
    failed = {"MessageSid": message_sid, "MessageStatus": "failed", "ErrorCode": "30003"}
    assert (await post(notify, callback, failed)).status_code == 204
    delivered = {"MessageSid": message_sid, "MessageStatus": "delivered"}
    assert (await post(notify, callback, delivered)).status_code == 204
    sent_before = len(twilio.to(phone))

    replayed = await post(notify, callback, failed)

    assert replayed.status_code == 204
    assert (await notify.notification(detail["id"]))["receipt"]["status"] == "delivered"
    assert len(twilio.to(phone)) == sent_before


@pytest.mark.usefixtures("minute_edge_cleared")
async def test_texts_past_the_numbers_budget_get_no_action_and_no_reply(
    notify: Notify, phone: str
) -> None:
    for _ in range(5):
        answer = await post(notify, SMS_PATH, text(phone, "HELP", sid()))
        assert "<Message>" in answer.text

    past = await post(notify, SMS_PATH, text(phone, "START", sid()))
    by_secret = await text_in(notify, SECRET, phone, "HELP")

    assert (past.status_code, past.text) == (200, EMPTY)
    assert (by_secret["reply"], by_secret["keyword"]) == ("", None)
    other = await text_in(notify, SECRET, f"+3368{uuid4().int % 10**7:07d}", "HELP")
    assert other["reply"]  # another number keeps its own budget
    metrics = (await notify.http.get("/metrics")).text
    assert 'inbound_sms_number_limited_total{service="notify"}' in metrics


@pytest.mark.usefixtures("minute_edge_cleared")
async def test_a_stop_past_the_numbers_budget_still_opts_out_without_a_reply(
    notify: Notify, phone: str
) -> None:
    for _ in range(5):
        await text_in(notify, SECRET, phone, "HELP")

    stop = await text_in(notify, SECRET, phone, "STOP")

    assert (stop["reply"], stop["keyword"]) == ("", "stop")
    assert await opted_out(notify, phone)
