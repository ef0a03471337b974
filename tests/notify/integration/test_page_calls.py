"""`PAGE_CALLS`: a page also places a phone call through Twilio's Calls API (a fake Twilio,
tests/fake_twilio.py), in the crisis lane next to its SMS and email, retried like them. The
call asks crisis (`PAGE_CALL_URL`) what to say, with the page's reply code in the URL."""

from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest

from counseling_shared.events import PageRequested, StaffSmsOptOutChanged
from notify.adapters import opt_outs
from tests.fake_twilio import ACCOUNT_SID, FakeTwilio, Scripted, notify_twilio_settings
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration

CRISIS_PUBLIC = "https://crisis.center.example"
CALLER = "+15005550006"


@pytest.fixture(scope="module")
def notify_overrides(twilio: FakeTwilio) -> dict[str, Any]:
    return {
        **notify_twilio_settings(
            twilio.url, webhook_base_url="https://sms.center.example", sender=CALLER
        ),
        "page_calls": True,
        "page_call_url": CRISIS_PUBLIC,
        "crisis_retry_base": 0.2,
    }


async def page(notify: Notify, phone: str) -> tuple[UUID, UUID, str]:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone=phone)
    alert_id, page_id = uuid4(), uuid4()
    code = page_id.hex[:6].upper()
    await notify.publish(
        PageRequested(
            alert_id=alert_id,
            page_id=page_id,
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            reply_code=code,
        ),
        source="crisis",
        subject=alert_id,
    )
    return staff_id, page_id, code


async def voice_row(notify: Notify, staff_id: UUID, status: str) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=staff_id)
        return [r for r in rows if r["channel"] == "voice" and r["status"] == status]

    return (await eventually(probe, timeout=15.0))[0]


async def test_a_page_places_a_call_that_asks_crisis_what_to_say(
    notify: Notify, twilio: FakeTwilio
) -> None:
    phone = f"+3367{uuid4().int % 10**7:07d}"
    staff_id, page_id, code = await page(notify, phone)

    row = await voice_row(notify, staff_id, "sent")

    assert (row["lane"], row["page_id"]) == ("crisis", str(page_id))
    [call] = twilio.calls_to(phone)
    assert call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert (call.form["From"], call.form["MachineDetection"]) == (CALLER, "Enable")
    answer, status = urlsplit(call.form["Url"]), urlsplit(call.form["StatusCallback"])
    assert f"{answer.scheme}://{answer.netloc}{answer.path}" == (
        CRISIS_PUBLIC + "/inbound/voice/twilio"
    )
    assert status.path == "/inbound/voice/twilio/status"
    assert parse_qs(answer.query) == parse_qs(status.query) == {"code": [code]}
    # The SMS and the email go as before.
    channels = {r["channel"] for r in await notify.notifications(recipient_id=staff_id)}
    assert channels == {"sms", "email", "voice"}


async def test_a_refused_call_is_retried_like_a_page(notify: Notify, twilio: FakeTwilio) -> None:
    phone = f"+3368{uuid4().int % 10**7:07d}"
    twilio.answer_calls(phone, Scripted(status=503))
    staff_id, _, _ = await page(notify, phone)

    row = await voice_row(notify, staff_id, "sent")

    detail = await notify.notification(row["id"])
    assert [a["outcome"] for a in detail["attempt_log"]] == ["transient_failure", "sent"]
    assert len(twilio.calls_to(phone)) == 2


async def test_a_staff_members_stop_ends_texts_not_calls(
    notify: Notify, twilio: FakeTwilio
) -> None:
    """STOP is a texting keyword: the page's SMS is not sent, its call still is (README,
    "Calls": a silenced on-call phone is the danger calls are for)."""
    phone = f"+3369{uuid4().int % 10**7:07d}"
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone=phone)
    stop = StaffSmsOptOutChanged(staff_id=staff_id, site_id=site_id, opted_out=True)
    await notify.publish(stop, source="crisis", subject=staff_id)
    await eventually(lambda: opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone))
    alert_id, page_id = uuid4(), uuid4()
    await notify.publish(
        PageRequested(
            alert_id=alert_id,
            page_id=page_id,
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            reply_code=page_id.hex[:6].upper(),
        ),
        source="crisis",
        subject=alert_id,
    )

    await voice_row(notify, staff_id, "sent")

    async def sms_settled() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=staff_id)
        return [r for r in rows if r["channel"] == "sms" and r["status"] != "pending"]

    [sms] = await eventually(sms_settled)
    assert sms["last_error"] == "sms_opted_out"
    assert len(twilio.calls_to(phone)) == 1
    assert twilio.to(phone) == []
