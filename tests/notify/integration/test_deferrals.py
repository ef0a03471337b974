"""notify's own side down is no delivery attempt: a client's message waits for booking's
directory (and a staff notice for notify's copy of the staff) without counting attempts, until
its own deadline or NOTIFY_DEFER_MAX_AGE; pages keep failing within minutes. And a client's
message refused for good on one channel goes once on their next channel with an address."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import Channel, RiskLevel, StaffRole
from counseling_shared.events import (
    ContactGapDetected,
    PageRequested,
    StaffRegistered,
    WaitlistOfferMade,
)
from notify.adapters.notification_store import wake_channel
from notify.domain.codes import Lane
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration


async def row_of(notify: Notify, recipient_id: UUID) -> dict[str, Any] | None:
    """The recipient's one notification, with the columns the API does not show."""
    row = await notify.pool.fetchrow(
        """SELECT id, status, attempts, deferrals, deferred_since, last_error, channel,
                  next_attempt_at
           FROM notifications WHERE recipient_id = $1""",
        recipient_id,
    )
    return dict(row) if row else None


async def deferred_at_least(notify: Notify, recipient_id: UUID, times: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        row = await row_of(notify, recipient_id)
        return row if row and (row["deferrals"] >= times or row["status"] != "pending") else {}

    return await eventually(probe, timeout=20.0)


async def finished(notify: Notify, recipient_id: UUID) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        row = await row_of(notify, recipient_id)
        return row if row and row["status"] != "pending" else {}

    return await eventually(probe, timeout=20.0)


async def jump_and_wake(notify: Notify, instant: datetime) -> None:
    """Move the clock and wake the bulk lane, as the passing of time would have."""
    notify.clock.jump_to(instant)
    await notify.pool.execute("SELECT pg_notify($1, '')", wake_channel(Lane.BULK))


async def stream_types(notify: Notify, notification_id: UUID) -> list[str]:
    rows = await notify.pool.fetch(
        "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
        f"notification-{notification_id}",
    )
    return [r["type"] for r in rows]


@pytest.fixture
async def booking_down(notify: Notify) -> AsyncIterator[None]:
    """Nobody answers booking.directory.contact(s) during the test."""
    await notify.directory.stop()
    try:
        yield
    finally:
        await notify.directory.start()


async def test_booking_down_past_every_attempt_defers_the_message_until_it_is_back(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    address = f"outage-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address)
    await notify.directory.stop()
    try:
        await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
        # Twice NOTIFY_MAX_ATTEMPTS (4 here) looks, each one finding booking silent.
        row = await deferred_at_least(notify, client_id, 2 * notify.settings.max_attempts)
        assert (row["status"], row["attempts"], row["last_error"]) == (
            "pending",
            0,
            "directory_unavailable",
        )
        [shown] = await notify.notifications(recipient_id=client_id)
        assert (shown["status"], shown["attempts"], shown["held_for"]) == ("pending", 0, None)
        # The back-off is capped (1 s here, the lane's): it still looks while booking is out.
        assert row["next_attempt_at"] - notify.clock.now() <= timedelta(seconds=1)
    finally:
        await notify.directory.start()

    await jump_and_wake(notify, notify.clock.now())
    sent = await finished(notify, client_id)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    detail = await notify.notification(str(sent["id"]))
    assert [(a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [("sent", None)]
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)
    [event] = await notify.notify_events(site_id, 1)
    assert (event.type, event.data["attempts"]) == ("NotificationSent", 1)
    assert "DeliveryDeferred" in await stream_types(notify, sent["id"])


async def test_a_waitlist_offer_waits_for_booking_no_longer_than_it_is_open(
    notify: Notify, booking_down: None
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, email=f"offer-{client_id.hex[:8]}@mail.example")
    expires_at = notify.clock.now() + timedelta(minutes=20)
    start = notify.clock.now() + timedelta(days=2)
    made = WaitlistOfferMade(
        offer_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        appointment_start=start,
        accept_url=f"https://booking.example/waitlist/offers/{uuid4()}/accept?token=t",
        expires_at=expires_at,
    )
    await notify.publish(made, source="booking", subject=made.offer_id)
    row = await deferred_at_least(notify, client_id, 2 * notify.settings.max_attempts)
    assert (row["status"], row["attempts"]) == ("pending", 0)

    await jump_and_wake(notify, expires_at + timedelta(seconds=1))

    failed = await finished(notify, client_id)
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed",
        0,
        "directory_unavailable",
    )
    [event] = await notify.notify_events(site_id, 1)
    assert (event.type, event.data["attempts"]) == ("NotificationFailed", 0)


async def test_a_message_without_a_deadline_waits_the_max_age_from_its_first_deferral(
    notify: Notify, booking_down: None
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, email=f"aged-{client_id.hex[:8]}@mail.example")
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    first = await deferred_at_least(notify, client_id, 1)
    since = first["deferred_since"]
    max_age = notify.settings.defer_max_age
    assert max_age == timedelta(hours=6)  # the documented default

    await jump_and_wake(notify, since + max_age - timedelta(minutes=10))
    still = await deferred_at_least(notify, client_id, first["deferrals"] + 1)
    assert (still["status"], still["attempts"]) == ("pending", 0)
    assert still["next_attempt_at"] <= since + max_age  # never looked at past its deadline

    await jump_and_wake(notify, since + max_age + timedelta(seconds=1))
    failed = await finished(notify, client_id)
    assert (failed["status"], failed["attempts"], failed["last_error"]) == (
        "failed",
        0,
        "directory_unavailable",
    )


async def test_a_staff_notice_waits_for_notify_to_hear_of_the_staff_member(
    notify: Notify,
) -> None:
    site_id = await notify.new_site()
    counselor = uuid4()  # not yet announced: notify-directory is behind
    client_id = uuid4()
    gap = ContactGapDetected(
        client_id=client_id,
        site_id=site_id,
        counselor_id=counselor,
        last_positive_contact_at=datetime.now(UTC) - timedelta(days=10),
    )
    await notify.publish(gap, source="followup", subject=client_id)
    row = await deferred_at_least(notify, counselor, 2 * notify.settings.max_attempts)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "pending",
        0,
        "recipient_unknown",
    )

    address = f"late-{counselor.hex[:8]}@center.example"
    registered = StaffRegistered(
        staff_id=counselor,
        site_id=site_id,
        name="Dr. Late",
        role=StaffRole.COUNSELOR,
        email=address,
        locale="en",
    )
    await notify.publish(registered, source="booking", subject=counselor)
    await eventually(lambda: notify.staff_known(counselor))
    await jump_and_wake(notify, notify.clock.now())

    sent = await finished(notify, counselor)
    assert (sent["status"], sent["attempts"]) == ("sent", 1)
    assert any(address in m.rcpt_tos for m in notify.sinks.smtp.messages)


async def test_a_page_to_an_unknown_staff_member_still_fails_after_its_attempts(
    notify: Notify,
) -> None:
    """Pages are not deferred: a page nobody can receive fails within the crisis lane's
    back-off and crisis records it on the alert's timeline (escalation goes on by its timer)."""
    site_id = await notify.new_site()
    stranger = uuid4()
    alert_id = uuid4()
    page = PageRequested(
        alert_id=alert_id,
        page_id=uuid4(),
        staff_id=stranger,
        site_id=site_id,
        level=1,
        risk_level=RiskLevel.HIGH,
    )
    await notify.publish(page, source="crisis", subject=alert_id)

    async def both_failed() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=stranger)
        return rows if len(rows) == 2 and all(r["status"] == "failed" for r in rows) else []

    rows = await eventually(both_failed, timeout=20.0)
    for row in rows:
        assert (row["attempts"], row["last_error"]) == (
            notify.settings.max_attempts,
            "recipient_unknown",
        )


async def test_an_sms_refused_for_good_goes_by_email_once_and_says_so(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = f"+1555{client_id.int % 10**7:07d}"
    address = f"landline-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, phone=phone, preferred_channel=Channel.SMS)
    notify.sinks.http.fail_next(1, channel="sms", status=400, to=phone)  # a landline

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    sent = await finished(notify, client_id)
    assert (sent["status"], sent["attempts"], sent["channel"]) == ("sent", 2, "email")
    detail = await notify.notification(str(sent["id"]))
    assert [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]] == [
        ("sms", "permanent_failure", "http_400"),
        ("email", "sent", None),
    ]
    assert "ChannelFellBack" in await stream_types(notify, sent["id"])
    assert [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]
    assert not [r for r in notify.sinks.http.sms if r.to == phone]
    [event] = await notify.notify_events(site_id, 1)
    assert (event.type, event.data["channel"], event.data["attempts"]) == (
        "NotificationSent",
        "email",
        2,
    )


async def test_a_message_falls_back_once_only(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = f"+1556{client_id.int % 10**7:07d}"
    address = f"twice-{client_id.hex[:8]}@mail.example"
    notify.directory.add(client_id, email=address, phone=phone, preferred_channel=Channel.SMS)
    notify.sinks.http.fail_next(1, channel="sms", status=400, to=phone)
    # The fallback's mail is refused too (every try: SMTP 4xx until its attempts run out).
    notify.sinks.smtp.fail_next(notify.settings.max_attempts, to=address)

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    failed = await finished(notify, client_id)
    detail = await notify.notification(str(failed["id"]))
    assert failed["status"] == "failed"
    channels = [a["channel"] for a in detail["attempt_log"]]
    assert channels[0] == "sms"
    assert set(channels[1:]) == {"email"}  # never SMS again
    assert len(channels) == notify.settings.max_attempts


async def test_a_client_who_asked_to_be_called_gets_no_sms(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = f"+1557{client_id.int % 10**7:07d}"
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.PHONE)

    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

    failed = await finished(notify, client_id)
    assert (failed["status"], failed["last_error"]) == ("failed", "no_address")
    assert not [r for r in notify.sinks.http.requests() if r.to == phone]
