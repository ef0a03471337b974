"""notify with `MESSAGING_PROVIDER=twilio` (SMS stays with its webhook provider), against a
fake Twilio (tests/fake_twilio.py; the real one is never called) with real PostgreSQL and
NATS: a client who chose `messaging` gets an approved WhatsApp template in their language; a
message without a mapping goes by their next channel, with its reason; Twilio's status
callback is its receipt; a WhatsApp STOP stops messaging and a C confirms the reminded
appointment, answered in TwiML (Twilio sends it back by WhatsApp)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from counseling_shared.codes import Channel, FollowUpKind
from counseling_shared.events import FollowUpDue
from tests.fake_twilio import FakeTwilio, Scripted, notify_whatsapp_settings, signed
from tests.notify.integration.conftest import Notify, eventually, followup_due
from tests.notify.integration.responders import FakeBooking

pytestmark = pytest.mark.integration

PUBLIC = "https://sms.center.example"
SMS_PATH = "/inbound/sms/twilio"
BOOKED_EN, BOOKED_FR = "HX" + "0" * 31 + "1", "HX" + "0" * 31 + "2"
REMINDER = "HX" + "0" * 31 + "3"
CONTENT = {
    "appointment_booked": {
        "en": {
            "content_sid": BOOKED_EN,
            "variables": ["common.site(site_name)", "day(start)", "hour(start)"],
        },
        "fr": {
            "content_sid": BOOKED_FR,
            "variables": ["common.site(site_name)", "day(start)", "hour(start)"],
            "text": "Votre rendez-vous avec {{1}} le {{2}} à {{3}} est confirmé.",
        },
    },
    "followup_due_reminder": {
        "en": {
            "content_sid": REMINDER,
            "variables": ["common.site(site_name)", "day(appointment_start)", "manage_url"],
        }
    },
}
START = datetime(2031, 3, 13, 13, 30, tzinfo=UTC)  # a Thursday, 14:30 in Paris


@pytest.fixture(scope="module")
def notify_overrides(twilio: FakeTwilio) -> dict[str, Any]:
    return {
        **notify_whatsapp_settings(
            twilio.url, webhook_base_url=PUBLIC, content=json.dumps(CONTENT)
        ),
        "webhook_timeout": 1.0,  # how long a lane waits for Twilio's answer
    }


@pytest.fixture
def phone() -> str:
    return f"+3366{uuid4().int % 10**7:07d}"


async def settled(notify: Notify, recipient_id: UUID, count: int = 1) -> list[dict[str, Any]]:
    """The recipient's `count` latest notifications once none is pending, newest first."""

    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        done = [r for r in rows if r["status"] != "pending"]
        return done if len(done) >= count else []

    found = await eventually(probe, timeout=15.0)
    return [await notify.notification(r["id"]) for r in found[:count]]


async def messaging_client(
    notify: Notify, phone: str, *, locale: str = "en", email: str | None = None
) -> tuple[UUID, UUID]:
    site_id = await notify.new_site(name="Riverside")
    client_id = uuid4()
    notify.directory.add(
        client_id,
        phone=phone,
        email=email,
        locale=locale,
        timezone="Europe/Paris",
        preferred_channel=Channel.MESSAGING,
    )
    return client_id, site_id


async def from_whatsapp(notify: Notify, phone: str, body: str) -> httpx.Response:
    params = {
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+15005550007",
        "Body": body,
        "MessageSid": "SM" + uuid4().hex,
    }
    headers = {**signed(PUBLIC + SMS_PATH, params), "Authorization": ""}
    return await notify.http.post(SMS_PATH, data=params, headers=headers)


def unsendable(template: str, language: str) -> float:
    labels = {"template": template, "language": language, "reason": "whatsapp_template_unmapped"}
    return REGISTRY.get_sample_value("notify_whatsapp_unsendable_total", labels) or 0.0


async def test_a_confirmation_goes_as_the_approved_template_in_the_clients_language(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    client_id, site_id = await messaging_client(notify, phone, locale="fr")

    await notify.book(client_id, site_id, START)
    [detail] = await settled(notify, client_id)

    assert (detail["status"], detail["channel"]) == ("sent", "messaging")
    [posted] = twilio.whatsapp_to(phone)
    assert posted.form["From"] == "whatsapp:+15005550007"
    assert posted.content_sid == BOOKED_FR
    assert posted.content_variables == {"1": "Riverside", "2": "jeudi 13 mars 2031", "3": "14:30"}
    assert "Body" not in posted.form
    assert all(r.to != phone for r in notify.sinks.http.requests())  # not by the webhook


@pytest.mark.parametrize(
    ("locale", "event"),
    [("ko", "booked"), ("en", "checkin")],  # a language, then a template, without a mapping
)
async def test_a_message_without_a_mapping_goes_by_email_with_its_reason(
    notify: Notify, twilio: FakeTwilio, phone: str, locale: str, event: str
) -> None:
    address = f"{uuid4().hex[:10]}@client.example"
    client_id, site_id = await messaging_client(notify, phone, locale=locale, email=address)
    template = "appointment_booked" if event == "booked" else "followup_due_checkin"
    before = unsendable(template, locale)

    if event == "booked":
        await notify.book(client_id, site_id, START)
    else:
        await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    [detail] = await settled(notify, client_id)

    assert (detail["status"], detail["channel"]) == ("sent", "email")
    tried = [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]]
    assert tried == [
        ("messaging", "permanent_failure", "whatsapp_template_unmapped"),
        ("email", "sent", None),
    ]
    assert twilio.whatsapp_to(phone) == []
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)
    assert unsendable(template, locale) == before + 1


async def test_without_an_email_address_the_unmapped_message_goes_by_sms(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    client_id, site_id = await messaging_client(notify, phone, locale="ru")

    await notify.book(client_id, site_id, START)
    [detail] = await settled(notify, client_id)

    assert (detail["status"], detail["channel"]) == ("sent", "sms")
    assert detail["attempt_log"][0]["error_code"] == "whatsapp_template_unmapped"
    assert [r.to for r in notify.sinks.http.requests() if r.to == phone] == [phone]
    assert twilio.whatsapp_to(phone) == []


async def test_twilios_status_callback_is_the_messages_delivery_receipt(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    client_id, site_id = await messaging_client(notify, phone)
    await notify.book(client_id, site_id, START)
    [detail] = await settled(notify, client_id)
    [posted] = twilio.whatsapp_to(phone)
    callback = urlsplit(posted.form["StatusCallback"])
    path = f"{callback.path}?{callback.query}"

    for status in ("sent", "read"):  # WhatsApp's `read`: delivered, and read
        params = {"MessageSid": "SM" + "7" * 32, "MessageStatus": status}
        headers = {**signed(PUBLIC + path, params), "Authorization": ""}
        answer = await notify.http.post(path, data=params, headers=headers)
        assert answer.status_code == 204, answer.text

    receipt = (await notify.notification(detail["id"]))["receipt"]
    assert (receipt["status"], receipt["provider"]) == ("delivered", "primary")


async def test_a_whatsapp_stop_stops_messaging_to_the_number_and_start_lifts_it(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    address = f"{uuid4().hex[:10]}@client.example"
    client_id, site_id = await messaging_client(notify, phone, email=address)

    stopped = await from_whatsapp(notify, phone, "STOP")
    assert stopped.status_code == 200, stopped.text
    assert "<Message>" in stopped.text  # the confirmation, sent back by WhatsApp
    await notify.book(client_id, site_id, START)
    [detail] = await settled(notify, client_id)

    assert detail["channel"] == "email"
    assert detail["attempt_log"][0]["error_code"] == "sms_opted_out"
    assert twilio.whatsapp_to(phone) == []

    started = await from_whatsapp(notify, phone, "START")
    assert started.status_code == 200
    await notify.book(client_id, site_id, START)
    [latest, _] = await settled(notify, client_id, count=2)
    assert latest["channel"] == "messaging"
    assert len(twilio.whatsapp_to(phone)) == 1


async def test_a_c_by_whatsapp_confirms_the_appointment_its_reminder_named(
    notify: Notify, twilio: FakeTwilio, booking: FakeBooking, phone: str
) -> None:
    client_id, site_id = await messaging_client(notify, phone)
    appointment_id = uuid4()
    manage = f"https://booking.example/appointments/{appointment_id}/manage?token=t0k"
    start = (notify.clock.now() + timedelta(hours=30)).replace(microsecond=0)
    due = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.REMINDER,
        due_at=notify.clock.now(),
        channel=Channel.MESSAGING,
        appointment_start=start,
        manage_url=manage,
        appointment_id=appointment_id,
    )
    await notify.publish(due, source="followup", subject=client_id)
    await settled(notify, client_id)
    [posted] = twilio.whatsapp_to(phone)
    assert (posted.content_sid, posted.content_variables["3"]) == (REMINDER, manage)
    await eventually(
        lambda: notify.pool.fetchval(
            "SELECT 1 FROM sms_reminders WHERE appointment_id = $1", appointment_id
        )
    )

    answer = await from_whatsapp(notify, phone, "C")

    assert answer.status_code == 200, answer.text
    assert [r["appointment_id"] for r in booking.requests] == [str(appointment_id)]
    assert booking.requests[0]["action"] == "confirm"
    assert "<Message>" in answer.text
    assert "confirmed" in answer.text


async def test_a_send_whose_answer_never_came_is_looked_for_not_sent_twice(
    notify: Notify, twilio: FakeTwilio, phone: str
) -> None:
    twilio.answer(f"whatsapp:{phone}", Scripted(delay=2.0))  # taken, answered too late
    client_id, site_id = await messaging_client(notify, phone)

    await notify.book(client_id, site_id, START)
    [detail] = await settled(notify, client_id)

    tried = [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]]
    assert tried == [
        ("messaging", "transient_failure", "http_timeout"),
        ("messaging", "sent", None),
    ]
    assert len(twilio.whatsapp_to(phone)) == 1  # one message, not two
    assert len(twilio.lists_for(f"whatsapp:{phone}")) == 1  # looked before sending again
    kept = await notify.pool.fetchval(
        "SELECT count(*) FROM twilio_unknown_outcomes WHERE notification_id = $1",
        UUID(detail["id"]),
    )
    assert kept == 0


async def test_an_sms_reminder_by_the_webhook_asks_for_no_reply_that_would_not_arrive(
    notify: Notify, phone: str
) -> None:
    """Twilio takes WhatsApp's replies, not the SMS webhook provider's (no INBOUND_SMS_SECRET
    here): a reminder by SMS says nothing of C or X, and is not kept for them."""
    site_id = await notify.new_site(name="Riverside")
    client_id, appointment_id = uuid4(), uuid4()
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    due = followup_due(client_id, site_id, FollowUpKind.REMINDER).model_copy(
        update={
            "appointment_start": notify.clock.now() + timedelta(hours=30),
            "appointment_id": appointment_id,
        }
    )

    await notify.publish(due, source="followup", subject=client_id)
    [detail] = await settled(notify, client_id)

    assert detail["channel"] == "sms"
    [sent] = [r for r in notify.sinks.http.requests() if r.to == phone]
    assert "reminder" in sent.body
    assert "Reply C" not in sent.body
    kept = await notify.pool.fetchval(
        "SELECT count(*) FROM sms_reminders WHERE appointment_id = $1", appointment_id
    )
    assert kept == 0
