"""notify with `SMS_PROVIDER=twilio`, against a fake Twilio (tests/fake_twilio.py; the real
one is never called): messages go by Twilio's Messages API, its signed status callbacks become
receipts, its signed texts become STOP/START/HELP, and a request Twilio did not sign is refused.
notify sits behind a proxy: Twilio signs the public URL, not the one notify sees."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest

from counseling_shared import twilio_signature
from counseling_shared.codes import Channel, FollowUpKind
from counseling_shared.http.problems import Problem
from notify.entrypoints import inbound_sms
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio, Scripted, notify_twilio_settings, signed
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration

PUBLIC = "https://sms.center.example"  # what Twilio calls; notify itself sees http://notify
HELP_TEXT = "Riverside Center: call +33 1 23 45 67 89."
SMS_PATH = "/inbound/sms/twilio"


@pytest.fixture(scope="module")
def notify_overrides(twilio: FakeTwilio) -> dict[str, Any]:
    return {
        **notify_twilio_settings(twilio.url, webhook_base_url=PUBLIC),
        "sms_help_text": HELP_TEXT,
    }


@pytest.fixture
def phone() -> str:
    return f"+3366{uuid4().int % 10**7:07d}"


async def post_as_twilio(
    notify: Notify, path_and_query: str, params: dict[str, str], **sign: str
) -> httpx.Response:
    url = sign.get("url", PUBLIC + path_and_query)
    headers = signed(url, params, sign.get("token", AUTH_TOKEN))
    return await notify.http.post(
        path_and_query, data=params, headers={**headers, "Authorization": ""}
    )


async def text(notify: Notify, sender: str, body: str, **more: str) -> httpx.Response:
    # Each text its own MessageSid, as Twilio's are: the same one again is a replay.
    message_sid = "SM" + uuid4().hex
    params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": message_sid, **more}
    return await post_as_twilio(notify, SMS_PATH, params)


async def message_to(notify: Notify, phone: str, email: str | None = None) -> dict[str, Any]:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, phone=phone, email=email, preferred_channel=Channel.SMS)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    return await settled(notify, client_id)


async def settled(notify: Notify, recipient_id: UUID) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["status"] != "pending"]

    found = await eventually(probe, timeout=15.0)
    return await notify.notification(found[0]["id"])


def callback_of(twilio: FakeTwilio, phone: str) -> str:
    """The path and query of the status callback notify gave Twilio with its message."""
    [posted] = twilio.to(phone)
    callback = urlsplit(posted.form["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}" == PUBLIC
    return f"{callback.path}?{callback.query}"


async def test_a_message_goes_by_twilio_and_its_status_callback_is_its_receipt(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    detail = await message_to(notify, phone)
    assert (detail["status"], detail["channel"]) == ("sent", "sms")
    callback = callback_of(twilio, phone)
    assert detail["id"] in callback

    on_its_way = await post_as_twilio(
        notify, callback, {"MessageSid": "SM1", "MessageStatus": "sent", "To": phone}
    )
    assert on_its_way.status_code == 204
    assert (await notify.notification(detail["id"]))["receipt"] is None

    failed = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    answer = await post_as_twilio(notify, callback, failed)

    assert answer.status_code == 204, answer.text
    receipt = (await notify.notification(detail["id"]))["receipt"]
    assert (receipt["status"], receipt["error_code"]) == ("undelivered", "twilio_30003")
    delivered = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert (await post_as_twilio(notify, callback, delivered)).status_code == 204
    assert (await notify.notification(detail["id"]))["receipt"]["status"] == "delivered"


async def test_with_twilio_and_no_webhook_secret_a_reminder_asks_for_c_or_x_and_is_kept(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    """Replies reach notify through Twilio's signed posts, so `INBOUND_SMS_SECRET` is not
    needed for a reminder to offer them."""
    assert not notify.settings.inbound_sms_secret.get_secret_value()
    client_id, appointment_id = uuid4(), uuid4()
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    due = followup_due(client_id, await notify.new_site()).model_copy(
        update={
            "kind": FollowUpKind.REMINDER,
            "appointment_start": notify.clock.now() + timedelta(hours=30),
            "appointment_id": appointment_id,
            "manage_url": f"https://booking.example/appointments/{appointment_id}/manage?t=1",
        }
    )
    await notify.publish(due, source="followup", subject=client_id)
    await settled(notify, client_id)

    [posted] = twilio.to(phone)
    assert "Reply C to confirm or X to cancel." in posted.form["Body"]
    kept = await notify.pool.fetchval(
        "SELECT count(*) FROM sms_reminders WHERE appointment_id = $1", appointment_id
    )
    assert kept == 1


async def test_a_callback_for_no_notification_of_ours_is_a_404(notify: Notify) -> None:
    path = f"/inbound/sms/twilio/status?key={uuid4()}&provider=primary"
    answer = await post_as_twilio(notify, path, {"MessageStatus": "delivered"})
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("sign", "why"),
    [
        ({"token": "not-the-auth-token"}, "another account's token"),
        ({"url": "http://notify" + SMS_PATH}, "the URL notify sees, not the public one"),
        ({"url": "https://sms.center.example:8443" + SMS_PATH}, "another port"),
        ({"url": "https://crisis.center.example/sms" + SMS_PATH}, "crisis's (same token)"),
        ({"url": "http://sms.center.example" + SMS_PATH}, "http before the TLS ingress"),
        ({"url": PUBLIC + SMS_PATH + "/"}, "a trailing slash"),
    ],
)
async def test_a_post_twilio_did_not_sign_for_this_url_is_refused(
    notify: Notify, phone: str, sign: dict[str, str], why: str
) -> None:
    params = {"From": phone, "Body": "STOP"}
    answer = await post_as_twilio(notify, SMS_PATH, params, **sign)

    assert answer.status_code == 401, why
    assert answer.headers["content-type"] == "application/problem+json"
    # Not taken for a STOP: a message still goes by SMS.
    assert (await message_to(notify, phone))["channel"] == "sms"


async def test_a_status_callback_signed_for_one_notification_cannot_name_another(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    """The callback's `key` is in the URL Twilio signs: pointed at another notification (or
    its `provider` changed), the signature no longer matches and nothing is recorded."""
    detail = await message_to(notify, phone)
    callback = callback_of(twilio, phone)
    failed = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    other = f"/inbound/sms/twilio/status?key={uuid4()}&provider=primary"
    fallback = callback.replace("provider=primary", "provider=fallback")

    for path in (other, fallback):
        answer = await post_as_twilio(notify, path, failed, url=PUBLIC + callback)
        assert answer.status_code == 401, path
    assert (await notify.notification(detail["id"]))["receipt"] is None


async def test_a_field_added_to_a_signed_form_is_refused(notify: Notify, phone: str) -> None:
    """Every pair of the form is signed, as Twilio signs it: a `From` put before a signed
    text's own (parsed first, then replaced by the signed one) breaks the signature, and a
    form where Twilio itself signed a name twice is taken."""
    params = {"From": phone, "Body": "HELP"}
    headers = {**signed(PUBLIC + SMS_PATH, params), "Authorization": ""}
    added = b"From=%2B33600000000&" + urlencode(params).encode()

    answer = await notify.http.post(SMS_PATH, content=added, headers=headers)

    assert answer.status_code == 401
    twice = [("From", phone), ("Body", "HELP"), ("Body", "help")]
    headers = {
        twilio_signature.HEADER: twilio_signature.signature(AUTH_TOKEN, PUBLIC + SMS_PATH, twice),
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "",
    }
    body = urlencode(twice).encode()
    assert (await notify.http.post(SMS_PATH, content=body, headers=headers)).status_code == 200


async def test_a_huge_or_non_utf8_signed_post_is_answered_not_a_500(
    notify: Notify, phone: str
) -> None:
    huge = await post_as_twilio(notify, SMS_PATH, {"From": phone, "Body": "x" * 70_000})
    assert huge.status_code == 413

    raw = b"From=%FF%FE%FD%FC&Body=HELP"  # bytes that are not UTF-8: each read as U+FFFD
    params = {"From": "\ufffd" * 4, "Body": "HELP"}
    headers = {**signed(PUBLIC + SMS_PATH, params), "Authorization": ""}
    answer = await notify.http.post(SMS_PATH, content=raw, headers=headers)
    assert answer.status_code == 200, answer.text


async def test_twilios_default_port_in_the_signed_url_is_accepted(notify: Notify) -> None:
    params = {"From": "+33600000009", "Body": "help"}
    url = "https://sms.center.example:443" + SMS_PATH
    assert (await post_as_twilio(notify, SMS_PATH, params, url=url)).status_code == 200


async def test_without_the_signature_even_a_malformed_post_is_a_401(notify: Notify) -> None:
    for path in (SMS_PATH, "/inbound/sms/twilio/status?key=x"):
        answer = await notify.http.post(
            path, content=b"\xff{not a form", headers={"Authorization": ""}
        )
        assert answer.status_code == 401, path
        assert answer.json()["detail"] == "Missing X-Twilio-Signature."


async def test_stop_through_twilio_stops_sms_and_answers_in_twiml(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    answer = await text(notify, phone, "Stop")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<Response><Message>" in answer.text
    assert "START" in answer.text
    detail = await message_to(notify, phone, "stopped@example.org")
    assert [(a["channel"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("sms", "sms_opted_out"),
        ("email", None),
    ]
    assert twilio.to(phone) == []


async def test_when_twilio_answered_the_keyword_itself_notify_adds_nothing(
    notify: Notify, phone: str
) -> None:
    answer = await text(notify, phone, "STOP", OptOutType="STOP")  # Advanced Opt-Out

    assert answer.text.endswith("<Response></Response>")
    assert (await message_to(notify, phone))["last_error"] == "sms_opted_out"  # still recorded


async def test_help_through_twilio_gets_the_centers_help_text(notify: Notify, phone: str) -> None:
    answer = await text(notify, phone, "HELP")
    assert f"<Message>{HELP_TEXT}</Message>" in answer.text


async def test_twilios_own_opt_out_refusal_is_our_sms_opted_out(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    twilio.answer(phone, Scripted(status=400, code=21610))  # STOP texted to Twilio before

    detail = await message_to(notify, phone, "by-mail@example.org")

    assert [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("sms", "permanent_failure", "sms_opted_out"),
        ("email", "sent", None),
    ]


@pytest.mark.parametrize(("busy", "status"), [(2, 204), (9, 503)])
async def test_a_receipt_that_comes_while_the_send_is_recorded_is_tried_again_in_the_request(
    notify: Notify, monkeypatch: pytest.MonkeyPatch, busy: int, status: int
) -> None:
    """Twilio does not post a callback again after a 503: notify retries it for a moment."""
    calls: list[str] = []

    async def record(*args: Any) -> None:
        calls.append(args[2].idempotency_key)
        if len(calls) <= busy:
            raise Problem(503, "unavailable", "Service unavailable", "being sent")

    monkeypatch.setattr(inbound_sms, "inbound_sms_status", record)
    key = str(uuid4())
    path = f"/inbound/sms/twilio/status?key={key}&provider=primary"

    answer = await post_as_twilio(notify, path, {"MessageStatus": "delivered"})

    assert answer.status_code == status
    assert calls == [key] * min(busy + 1, 4)


async def test_a_signed_post_without_a_sender_is_a_422_naming_twilios_field(
    notify: Notify,
) -> None:
    answer = await post_as_twilio(notify, SMS_PATH, {"Body": "STOP"})

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["From"]
