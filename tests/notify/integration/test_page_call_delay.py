"""`PAGE_CALL_DELAY`: a page's call waits until crisis's `requested_at` plus the delay (its
row's `next_attempt_at`, held for `call_delay`), while the page's SMS and email go at once; an
acknowledgement before then withdraws it (a notify restart meanwhile:
test_page_call_delay_restart). No long sleeps: the delay is a minute and the test moves
notify's clock (a fake Twilio, tests/fake_twilio.py)."""

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import RiskLevel
from counseling_shared.events import AlertAcknowledged, PageRequested
from tests.fake_twilio import FakeTwilio, Scripted, notify_twilio_settings
from tests.notify.integration.conftest import Notify, eventually

pytestmark = pytest.mark.integration

DELAY = timedelta(minutes=1)
CALLER = "+15005550006"
QUIET = 1.0  # seconds a test watches for a call that must not come (workers poll every 0.2 s)


def twilio_settings(twilio: FakeTwilio) -> dict[str, Any]:
    return {
        **notify_twilio_settings(
            twilio.url, webhook_base_url="https://sms.center.example", sender=CALLER
        ),
        "page_calls": True,
        "page_call_url": "https://crisis.center.example",
        "page_call_delay": DELAY,
    }


@pytest.fixture(scope="module")
def notify_overrides(twilio: FakeTwilio) -> dict[str, Any]:
    return twilio_settings(twilio)


def a_phone() -> str:
    return f"+3365{uuid4().int % 10**7:07d}"


async def page(notify: Notify, phone: str) -> tuple[UUID, UUID, UUID, datetime]:
    """A page requested now (notify's clock): its site, staff, alert and `requested_at`."""
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone=phone)
    alert_id, requested_at = await request_page(notify, site_id, staff_id)
    return site_id, staff_id, alert_id, requested_at


async def request_page(
    notify: Notify, site_id: UUID, staff_id: UUID, call_after: timedelta | None = None
) -> tuple[UUID, datetime]:
    alert_id, page_id = uuid4(), uuid4()
    requested_at = notify.clock.now()
    event = PageRequested(
        alert_id=alert_id,
        page_id=page_id,
        staff_id=staff_id,
        site_id=site_id,
        level=1,
        reply_code=page_id.hex[:6].upper(),
        requested_at=requested_at,
        call_after=call_after,
    )
    await notify.publish(event, source="crisis", subject=alert_id)
    return alert_id, requested_at


async def rows_by_channel(notify: Notify, staff_id: UUID) -> dict[str, dict[str, Any]]:
    return {r["channel"]: r for r in await notify.notifications(recipient_id=staff_id)}


async def texts_out(notify: Notify, staff_id: UUID) -> dict[str, dict[str, Any]]:
    """The page's rows once its SMS and email are sent."""

    async def probe() -> dict[str, dict[str, Any]]:
        rows = await rows_by_channel(notify, staff_id)
        sent = all(rows.get(c, {}).get("status") == "sent" for c in ("sms", "email"))
        return rows if sent and "voice" in rows else {}

    return await eventually(probe, timeout=15.0)


async def voice_status(notify: Notify, staff_id: UUID, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        voice = (await rows_by_channel(notify, staff_id)).get("voice", {})
        return voice if voice.get("status") == status else {}

    return await eventually(probe, timeout=15.0)


async def test_the_call_waits_out_the_delay_while_the_sms_and_email_go_at_once(
    notify: Notify, twilio: FakeTwilio
) -> None:
    phone = a_phone()
    _, staff_id, _, requested_at = await page(notify, phone)

    rows = await texts_out(notify, staff_id)
    await asyncio.sleep(QUIET)
    voice = await notify.notification(rows["voice"]["id"])
    assert (voice["status"], voice["held_for"]) == ("pending", "call_delay")
    assert datetime.fromisoformat(voice["next_attempt_at"]) == requested_at + DELAY
    assert twilio.calls_to(phone) == []
    assert len(twilio.to(phone)) == 1  # the text did not wait

    notify.clock.jump_to(requested_at + DELAY - timedelta(seconds=5))
    await asyncio.sleep(QUIET)
    assert twilio.calls_to(phone) == []  # not even shortly before

    notify.clock.jump_to(requested_at + DELAY)
    sent = await voice_status(notify, staff_id, "sent")
    assert len(twilio.calls_to(phone)) == 1
    [attempt] = (await notify.notification(sent["id"]))["attempt_log"]
    assert datetime.fromisoformat(attempt["at"]) >= requested_at + DELAY


async def test_an_acknowledgement_before_the_delay_withdraws_the_call(
    notify: Notify, twilio: FakeTwilio
) -> None:
    phone = a_phone()
    site_id, staff_id, alert_id, requested_at = await page(notify, phone)
    await texts_out(notify, staff_id)

    ack = AlertAcknowledged(
        alert_id=alert_id,
        client_id=uuid4(),
        site_id=site_id,
        level=RiskLevel.MODERATE,
        current_level=1,
        staff_id=staff_id,
    )
    notify.clock.jump_to(requested_at + timedelta(seconds=10))  # acknowledged from the text
    await notify.publish(ack, source="crisis", subject=alert_id)

    await voice_status(notify, staff_id, "withdrawn")
    notify.clock.jump_to(requested_at + DELAY + timedelta(seconds=1))
    await asyncio.sleep(QUIET)
    assert twilio.calls_to(phone) == []


async def test_a_failed_text_brings_the_call_forward_a_failed_email_does_not(
    notify: Notify, twilio: FakeTwilio
) -> None:
    """The delay is for an acknowledgement from the text: a text that failed calls at once
    (as a failed channel of a page expedites the others); a failed email changes nothing."""
    no_text, no_email = a_phone(), a_phone()
    twilio.answer(no_text, Scripted(status=400))  # refused: the page's SMS fails at once
    site_id = await notify.new_site()
    staff_without_text = await notify.new_staff(site_id, phone=no_text)
    staff_without_email = await notify.new_staff(site_id, phone=no_email)
    notify.sinks.smtp.fail_next(20, to=f"oncall-{staff_without_email.hex[:8]}@center.example")
    await request_page(notify, site_id, staff_without_text)
    await request_page(notify, site_id, staff_without_email)

    await voice_status(notify, staff_without_text, "sent")
    assert len(twilio.calls_to(no_text)) == 1

    async def email_failed() -> bool:
        rows = await rows_by_channel(notify, staff_without_email)
        return rows.get("email", {}).get("status") == "failed"

    await eventually(email_failed, timeout=15.0)
    await asyncio.sleep(QUIET)
    voice = (await rows_by_channel(notify, staff_without_email))["voice"]
    assert voice["status"] == "pending"
    assert twilio.calls_to(no_email) == []


async def test_a_staff_members_preferences_change_does_not_bring_the_call_forward(
    notify: Notify, twilio: FakeTwilio
) -> None:
    """A preferences change releases messages held for quiet hours, not a call's delay."""
    phone = a_phone()
    _, staff_id, _, _ = await page(notify, phone)
    await texts_out(notify, staff_id)

    quiet = {"start": "00:00", "end": "00:01"}
    assert (await notify.set_preferences(staff_id, {"quiet_hours": quiet})).status_code == 200
    await asyncio.sleep(QUIET)
    voice = (await rows_by_channel(notify, staff_id))["voice"]
    assert voice["status"] == "pending"
    assert twilio.calls_to(phone) == []


async def test_the_paged_levels_call_after_wins_over_the_global_delay(
    notify: Notify, twilio: FakeTwilio
) -> None:
    """A level's `call_after` (carried by PageRequested): longer than PAGE_CALL_DELAY, the call
    waits that long; PT0S, it goes at once with the text."""
    later, at_once = a_phone(), a_phone()
    site_id = await notify.new_site()
    waits, calls_now = (
        await notify.new_staff(site_id, phone=later),
        await notify.new_staff(site_id, phone=at_once),
    )

    _, requested_at = await request_page(notify, site_id, waits, call_after=3 * DELAY)
    await request_page(notify, site_id, calls_now, call_after=timedelta(0))

    await voice_status(notify, calls_now, "sent")
    assert len(twilio.calls_to(at_once)) == 1
    rows = await texts_out(notify, waits)
    voice = await notify.notification(rows["voice"]["id"])
    assert (voice["status"], voice["held_for"]) == ("pending", "call_delay")
    assert datetime.fromisoformat(voice["next_attempt_at"]) == requested_at + 3 * DELAY
    assert twilio.calls_to(later) == []
