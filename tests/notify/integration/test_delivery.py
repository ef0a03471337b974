"""Deliveries end to end: an event on JetStream in, a message at the sink and an event on the
NOTIFY stream out, against real PostgreSQL and NATS."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.codes import Channel, FollowUpKind, RiskLevel, StaffRole
from counseling_shared.events import (
    ContactGapDetected,
    FollowUpDue,
    NegativeContactRecorded,
    PageRequested,
)
from devstack.sinks import ReceivedEmail
from notify.adapters.notification_store import wake_channel
from notify.domain.codes import Lane
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration


async def settled(notify: Notify, recipient_id: UUID, count: int = 1) -> list[dict[str, Any]]:
    """The recipient's notifications once `count` of them are sent or failed."""

    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        done = [r for r in rows if r["status"] != "pending"]
        return rows if len(done) >= count else []

    return await eventually(probe)


async def test_followup_due_is_emailed_in_the_clients_language_with_a_derived_message_id(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"client-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="fr-CA", timezone="America/Montreal")

    cause = await notify.publish(
        followup_due(client_id, site_id), source="followup", subject=client_id
    )

    [row] = await settled(notify, client_id)
    assert row["status"] == "sent"
    assert (row["channel"], row["template"], row["kind"]) == ("email", "followup_due", "checkin")
    assert row["cause_event_id"] == str(cause.id)
    emails = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert len(emails) == 1
    email = emails[0].message
    assert email["Message-ID"] == f"<{row['id']}@notify.counseling-suite>"
    assert email["Subject"] == "Comment allez-vous ?"
    assert email["Content-Language"] == "fr"
    assert "Bonjour" in emails[0].body
    assert "Riverside" in emails[0].body  # the site's name, learnt from SiteRegistered


async def test_notification_sent_is_published_on_the_notify_stream_continuing_the_correlation(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"c-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address)

    cause = await notify.publish(
        followup_due(client_id, site_id), source="followup", subject=client_id
    )

    [row] = await settled(notify, client_id)
    [event] = await notify.notify_events(site_id, 1)
    assert event.type == "NotificationSent"
    assert event.source == "notify"
    assert event.nats_subject == f"notify.{site_id}.NotificationSent"
    assert event.causationid == cause.id
    assert event.correlationid == cause.correlationid
    assert event.data["notification_id"] == row["id"]
    assert event.data["recipient_id"] == str(client_id)
    assert event.data["cause_event_id"] == str(cause.id)
    assert (event.data["channel"], event.data["template"], event.data["attempts"]) == (
        "email",
        "followup_due",
        1,
    )
    assert address not in event.encode().decode()  # no contact detail travels on the bus


async def test_appointment_confirmation_shows_the_time_in_the_clients_zone_and_language(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(name="서울 상담센터")
    client_id = uuid4()
    address = f"ko-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="ko-KR", timezone="Asia/Seoul")
    start = datetime(2030, 5, 14, 6, 0, tzinfo=UTC)  # 15:00 in Seoul, a Tuesday

    await notify.book(client_id, site_id, start)

    [row] = await settled(notify, client_id)
    assert (row["status"], row["template"]) == ("sent", "appointment_booked")
    [email] = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert email.message["Subject"] == "2030년 5월 14일 화요일 상담 예약이 확정되었습니다"
    assert "2030년 5월 14일 화요일 오후 3:00\u2013오후 3:50" in email.body
    assert "온라인 화상 상담" in email.body
    assert "서울 상담센터" in email.body


async def test_sms_is_retried_after_503s_with_the_same_idempotency_key_then_sent(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = f"+1555{client_id.int % 10**7:07d}"
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    notify.sinks.http.fail_next(2, channel="sms", status=503, to=phone)

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    detail = await notify.notification(row["id"])
    assert detail["status"] == "sent"
    assert detail["attempts"] == 3
    assert [(a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("transient_failure", "http_503"),
        ("transient_failure", "http_503"),
        ("sent", None),
    ]
    first, second, third = (datetime.fromisoformat(a["at"]) for a in detail["attempt_log"])
    assert second - first >= timedelta(milliseconds=100)  # half the 200 ms base, at least
    assert third - second >= timedelta(milliseconds=200)  # doubled
    received = [r for r in notify.sinks.http.sms if r.to == phone]
    assert len(received) == 1  # the refused calls were not delivered
    assert received[0].idempotency_key == row["id"]


async def test_an_smtp_451_is_retried_and_the_email_keeps_its_message_id(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"busy-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address)
    notify.sinks.smtp.fail_next(1, to=address)

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    detail = await notify.notification(row["id"])
    assert [(a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("transient_failure", "smtp_451"),
        ("sent", None),
    ]
    [email] = [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert email.message["Message-ID"] == f"<{row['id']}@notify.counseling-suite>"


async def test_a_provider_refusing_for_good_fails_at_once_and_emits_notification_failed(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, phone="+15550000400", preferred_channel=Channel.SMS)
    notify.sinks.http.fail_next(1, channel="sms", status=400, to="+15550000400")

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "http_400")
    [event] = await notify.notify_events(site_id, 1)
    assert event.type == "NotificationFailed"
    assert event.data["notification_id"] == row["id"]
    assert event.data["attempts"] == 1


async def test_booking_not_answering_is_retried_until_it_answers(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"late-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address)
    await notify.directory.stop()
    try:
        await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

        async def booking_missed() -> bool:
            rows = await notify.notifications(recipient_id=client_id)
            return bool(rows) and rows[0]["last_error"] == "directory_unavailable"

        await eventually(booking_missed)
    finally:
        await notify.directory.start()

    [row] = await settled(notify, client_id)
    detail = await notify.notification(row["id"])
    assert detail["status"] == "sent"
    # booking's silence was no attempt of the client's (tests/notify/integration/test_deferrals)
    assert [a["outcome"] for a in detail["attempt_log"]] == ["sent"]


async def test_a_channel_without_an_address_falls_back_to_one_with_an_address(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"nophone-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, preferred_channel=Channel.SMS)

    await notify.publish(
        followup_due(client_id, site_id, channel=Channel.SMS), source="followup", subject=client_id
    )

    [row] = await settled(notify, client_id)
    assert (row["status"], row["channel"]) == ("sent", "email")
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)


async def test_a_client_with_no_address_at_all_fails_at_once(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id)

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    [row] = await settled(notify, client_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "no_address")


async def test_a_page_goes_to_sms_and_email_with_the_alert_link_and_ignores_quiet_hours(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="Europe/Paris")
    staff_id = await notify.new_staff(site_id, phone="+33600000042", locale="fr")
    local_now = notify.clock.now().astimezone(ZoneInfo("Europe/Paris"))
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local_now + timedelta(hours=2)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(staff_id, {"quiet_hours": quiet})).status_code == 200
    alert_id, page_id = uuid4(), uuid4()

    await notify.publish(
        PageRequested(
            alert_id=alert_id,
            page_id=page_id,
            staff_id=staff_id,
            site_id=site_id,
            level=1,
            risk_level=RiskLevel.IMMINENT,
        ),
        source="crisis",
        subject=alert_id,
    )

    rows = await settled(notify, staff_id, count=2)
    assert sorted((r["channel"], r["status"], r["lane"]) for r in rows) == [
        ("email", "sent", "crisis"),
        ("sms", "sent", "crisis"),
    ]
    assert {r["page_id"] for r in rows} == {str(page_id)}
    link = f"https://crisis.counseling.example/alerts/{alert_id}"
    [sms] = [r for r in notify.sinks.http.sms if r.to == "+33600000042"]
    [email] = [
        m
        for m in notify.sinks.smtp.messages
        if m.rcpt_tos[0].startswith("oncall-") and str(alert_id)[:8] in str(m.message["Subject"])
    ]
    for text in (sms.body, email.body):
        assert link in text
        assert str(alert_id) in text
        assert "imminent" not in text.lower()  # no clinical detail
    assert "URGENT : alerte de crise" in sms.body  # in the staff member's French
    events = await notify.notify_events(site_id, 2)
    assert {(e.type, e.data["page_id"]) for e in events} == {("NotificationSent", str(page_id))}


async def test_a_fallback_page_says_fallback_in_its_sms_and_email_not_a_level_number(
    notify: Notify,
) -> None:
    """A one-level policy's fallback page is `level` 2 on the bus: the staff member must read
    that the chain ran out and they are the fallback, not "level 2"."""
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone="+33600000043", locale="en")
    alert_id = uuid4()

    await notify.publish(
        PageRequested(
            alert_id=alert_id,
            page_id=uuid4(),
            staff_id=staff_id,
            site_id=site_id,
            level=2,
            fallback=True,
        ),
        source="crisis",
        subject=alert_id,
    )

    await settled(notify, staff_id, count=2)
    [sms] = [r for r in notify.sinks.http.sms if r.to == "+33600000043"]
    [email] = [
        m
        for m in notify.sinks.smtp.messages
        if m.rcpt_tos[0].startswith("oncall-") and str(alert_id)[:8] in str(m.message["Subject"])
    ]
    assert "(fallback: no level acknowledged)" in sms.body
    assert "level 2" not in sms.body
    assert str(email.message["Subject"]).endswith(", fallback page")
    assert "you are paged as the fallback" in email.body
    assert "level: 2" not in email.body.lower()
    assert "escalates to the next level" not in email.body


async def test_quiet_hours_hold_a_followup_until_the_window_ends(notify: Notify) -> None:
    site_id = await notify.new_site(timezone="Asia/Tokyo")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Asia/Tokyo")
    address = f"quiet-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, timezone="Asia/Tokyo")
    local_now = notify.clock.now().astimezone(ZoneInfo("Asia/Tokyo"))
    window_end = local_now.replace(second=0, microsecond=0) + timedelta(hours=2)
    quiet = {
        "start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
        "end": window_end.strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    [held] = await eventually(lambda: notify.notifications(recipient_id=client_id))
    assert (held["status"], held["held_for"], held["attempts"]) == ("pending", "quiet_hours", 0)
    assert datetime.fromisoformat(held["next_attempt_at"]) == window_end
    await notify_idle_for(notify, seconds=0.8)
    assert not any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)

    await jump_and_wake_bulk_lane(notify, window_end + timedelta(seconds=1))

    [row] = await settled(notify, client_id)
    assert row["status"] == "sent"
    assert datetime.fromisoformat(row["sent_at"]) >= window_end
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)


async def test_a_message_held_again_by_new_quiet_hours_does_not_ask_booking(
    notify: Notify,
) -> None:
    """New quiet hours send a held message back to the workers at once; when they still cover
    now, it is held again by the client's time zone notify knows, without asking booking for
    an address that would not be used."""
    site_id = await notify.new_site(timezone="Asia/Tokyo")
    client_id = await notify.new_client(site_id, uuid4(), timezone="Asia/Tokyo")
    address = f"asked-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, timezone="Asia/Tokyo")
    zone = ZoneInfo("Asia/Tokyo")
    local_now = notify.clock.now().astimezone(zone).replace(second=0, microsecond=0)

    def quiet_until(end: datetime) -> dict[str, Any]:
        window = {"start": (local_now - timedelta(hours=1)).strftime("%H:%M")}
        return {"quiet_hours": {**window, "end": end.strftime("%H:%M")}}

    async def held_until(end: datetime) -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=client_id)
        return [r for r in rows if datetime.fromisoformat(r["next_attempt_at"]) == end]

    # Queued in quiet hours: held until they end (booking is not asked when queueing).
    first_end, second_end = local_now + timedelta(hours=2), local_now + timedelta(hours=4)
    assert (await notify.set_preferences(client_id, quiet_until(first_end))).status_code == 200
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    await eventually(lambda: held_until(first_end))

    # Longer quiet hours: the message is tried at once, and held again until they end.
    assert (await notify.set_preferences(client_id, quiet_until(second_end))).status_code == 200
    [row] = await eventually(lambda: held_until(second_end))
    assert (row["status"], row["held_for"], row["attempts"]) == ("pending", "quiet_hours", 0)
    detail = await notify.notification(row["id"])
    assert detail["attempt_log"] == []
    assert str(client_id) not in notify.directory.requests

    await jump_and_wake_bulk_lane(notify, second_end + timedelta(seconds=1))
    [row] = await settled(notify, client_id)
    assert row["status"] == "sent"
    assert notify.directory.requests.count(str(client_id)) == 1


async def jump_and_wake_bulk_lane(notify: Notify, instant: datetime) -> None:
    """Move the clock to `instant` and wake the bulk lane's workers, as the passing of time
    would have: an idle worker sleeps until the next message is due by its clock (or its
    `LISTENING_POLL`, 10 s), so it cannot see a jump."""
    notify.clock.jump_to(instant)
    await notify.pool.execute("SELECT pg_notify($1, '')", wake_channel(Lane.BULK))


async def notify_idle_for(notify: Notify, seconds: float) -> None:
    """Give the workers time to (wrongly) send something: several idle polls."""
    import asyncio

    await asyncio.sleep(seconds)


# --- contact regularity: notices to staff, the regularity outreach to the client ----------


async def test_a_contact_gap_emails_the_counselor_in_their_language_naming_the_client_by_id(
    notify: Notify,
) -> None:
    site_id = await notify.new_site(timezone="Asia/Seoul")
    counselor = await notify.new_staff(site_id, locale="ko", role=StaffRole.COUNSELOR)
    other = await notify.new_staff(site_id, role=StaffRole.COUNSELOR)
    client_id = uuid4()

    await notify.publish(
        ContactGapDetected(
            client_id=client_id,
            site_id=site_id,
            counselor_id=counselor,
            last_positive_contact_at=datetime.now(UTC) - timedelta(days=10),
        ),
        source="followup",
        subject=client_id,
    )

    [row] = await settled(notify, counselor)
    assert (row["status"], row["template"], row["lane"], row["channel"]) == (
        "sent",
        "contact_gap",
        "bulk",
        "email",
    )
    [email] = [
        m for m in notify.sinks.smtp.messages if str(client_id)[:8] in str(m.message["Subject"])
    ]
    assert "최근 연락 없음" in str(email.message["Subject"])
    assert str(client_id) in email.body
    assert await notify.notifications(recipient_id=other) == []


async def test_a_negative_contact_emails_every_supervisor_of_the_site_and_no_counselor(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    supervisors = [await notify.new_staff(site_id, role=StaffRole.SUPERVISOR) for _ in range(2)]
    counselor = await notify.new_staff(site_id, role=StaffRole.COUNSELOR)
    client_id = uuid4()
    until = datetime.now(UTC) + timedelta(days=14)

    await notify.publish(
        NegativeContactRecorded(
            client_id=client_id, site_id=site_id, counselor_id=counselor, cooloff_until=until
        ),
        source="followup",
        subject=client_id,
    )

    for supervisor in supervisors:
        [row] = await settled(notify, supervisor)
        assert (row["status"], row["template"]) == ("sent", "negative_contact")
    assert await notify.notifications(recipient_id=counselor) == []


async def test_a_site_without_a_supervisor_tells_its_lead(notify: Notify) -> None:
    site_id = await notify.new_site()
    lead = await notify.new_staff(site_id, role=StaffRole.SITE_LEAD)
    client_id = uuid4()
    await notify.publish(
        NegativeContactRecorded(client_id=client_id, site_id=site_id),
        source="followup",
        subject=client_id,
    )
    [row] = await settled(notify, lead)
    assert row["template"] == "negative_contact"


async def test_the_regularity_outreach_reaches_the_client(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"client-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, locale="en")
    await notify.publish(
        FollowUpDue(
            followup_id=uuid4(),
            client_id=client_id,
            site_id=site_id,
            kind=FollowUpKind.REGULARITY,
            due_at=datetime.now(UTC),
        ),
        source="followup",
        subject=client_id,
    )
    [row] = await settled(notify, client_id)
    assert (row["status"], row["kind"]) == ("sent", "regularity")
    emails = await eventually(lambda: _emails_to(notify, address))
    assert emails[0].message["Subject"] == "Thinking of you"


async def _emails_to(notify: Notify, address: str) -> list[ReceivedEmail]:
    return [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
