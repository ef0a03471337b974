"""Delivery receipts (`POST /inbound/sms/status`): what the provider says became of a message it
accepted, recorded on the notification; a page whose receipt failed goes again by the other
provider; a client's text whose receipt failed goes once by email while it is of use; the
shared secret is checked before the body on every inbound route."""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from counseling_shared.codes import Channel, FollowUpKind
from counseling_shared.events import FollowUpDue, PageRequested, WaitlistOfferMade
from devstack.sinks import HttpSink
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration

SECRET = "receipts-test-secret"  # noqa: S105 (a test credential)
FALLBACK_OUTCOMES = ("queued", "sent", "failed", "expired", "no_address", "dropped")


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpSink]:
    outbox: Path = tmp_path_factory.mktemp("receipts-fallback")
    with HttpSink(outbox) as sink:
        yield sink


@pytest.fixture(scope="module")
def notify_overrides(fallback: HttpSink) -> dict[str, Any]:
    return {"inbound_sms_secret": SECRET, "sms_fallback_webhook_url": fallback.sms_url}


async def receipt(
    notify: Notify,
    key: str,
    status: str,
    error_code: str | None = None,
    *,
    provider: str | None = None,
    secret: str = SECRET,
) -> httpx.Response:
    body: dict[str, Any] = {"idempotency_key": key, "status": status, "message_sid": "SM1"}
    if error_code is not None:
        body["error_code"] = error_code
    return await notify.http.post(
        "/inbound/sms/status",
        params={"provider": provider} if provider else None,
        json=body,
        headers={"X-Webhook-Secret": secret, "Authorization": ""},
    )


async def settled(notify: Notify, recipient_id: UUID, **match: Any) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["status"] != "pending" and match.items() <= r.items()]

    found = await eventually(probe, timeout=15.0)
    return await notify.notification(found[0]["id"])


def attempts(detail: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(a["outcome"], a["error_code"]) for a in detail["attempt_log"]]


async def stream_types(notify: Notify, notification_id: str) -> list[str]:
    rows = await notify.pool.fetch(
        "SELECT type FROM events WHERE stream_id = $1 ORDER BY version",
        f"notification-{notification_id}",
    )
    return [r["type"] for r in rows]


async def fallbacks(notify: Notify, channel: str, outcome: str) -> float:
    """`notify_receipt_fallbacks_total{channel,outcome}` as notify reports it now."""
    metrics = (await notify.http.get("/metrics")).text
    line = f'notify_receipt_fallbacks_total{{channel="{channel}",outcome="{outcome}"}} '
    [value] = [m.removeprefix(line) for m in metrics.splitlines() if m.startswith(line)]
    return float(value)


async def receipts_counted(notify: Notify, channel: str, status: str) -> float:
    """`notify_delivery_receipts_total{channel,status}` now (0 before the first)."""
    metrics = (await notify.http.get("/metrics")).text
    line = f'notify_delivery_receipts_total{{channel="{channel}",status="{status}"}} '
    found = [m.removeprefix(line) for m in metrics.splitlines() if m.startswith(line)]
    return float(found[0]) if found else 0.0


def emails_to(notify: Notify, address: str) -> list[Any]:
    return [m for m in notify.sinks.smtp.messages if address in m.rcpt_tos]


async def emailed(notify: Notify, address: str) -> list[Any]:
    """`emails_to` for `eventually`."""
    return emails_to(notify, address)


async def settled_by_email(notify: Notify, notification_id: str) -> dict[str, Any]:
    async def by_email() -> dict[str, Any]:
        detail = await notify.notification(notification_id)
        return detail if detail["status"] == "sent" and detail["channel"] == "email" else {}

    return await eventually(by_email, timeout=10.0)


async def client_text(
    notify: Notify, phone: str, email: str | None, channel: Channel = Channel.SMS
) -> tuple[UUID, UUID, dict[str, Any]]:
    """A client's check-in sent by text: its site, client and settled notification."""
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, email=email, phone=phone, preferred_channel=channel)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    sent = await settled(notify, client_id)
    assert (sent["status"], sent["channel"]) == ("sent", channel.value)
    return site_id, client_id, sent


async def test_a_receipt_is_recorded_shown_and_a_repeat_changes_nothing(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = "+33655510001"
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    sent = await settled(notify, client_id)
    assert sent["receipt"] is None
    [taken] = [r for r in notify.sinks.http.sms if r.to == phone]
    assert taken.idempotency_key == sent["id"]  # what the provider names back

    no_address = await fallbacks(notify, "sms", "no_address")
    undelivered = await receipts_counted(notify, "sms", "undelivered")
    answer = await receipt(notify, sent["id"], "undelivered", "30003")
    assert answer.status_code == 200, answer.text
    # Queued by email: whether the client has an address is booking's to say, at send time.
    assert answer.json() == {"notification_id": sent["id"], "recorded": True, "resent": True}

    async def dropped() -> dict[str, Any]:
        detail = await notify.notification(sent["id"])
        return detail if detail["status"] == "sent" else {}

    # The client has no email address: recorded only, `sent` by its text as before.
    detail = await eventually(dropped, timeout=10.0)
    assert detail["receipt"]["status"] == "undelivered"
    assert (detail["receipt"]["error_code"], detail["receipt"]["provider"]) == ("30003", "primary")
    assert (detail["channel"], attempts(detail), detail["last_error"]) == (
        "sms",
        [("sent", None)],
        "no_address",
    )
    assert detail["sent_at"] == sent["sent_at"]
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1
    assert (await stream_types(notify, sent["id"]))[-2:] == ["ChannelFellBack", "FallbackDropped"]
    assert await fallbacks(notify, "sms", "no_address") == no_address + 1
    again = await receipt(notify, sent["id"], "undelivered", "30003")
    assert again.json() == {"notification_id": sent["id"], "recorded": False, "resent": False}
    # Announced once, by its text: the dropped fallback says nothing more.
    [announced] = await notify.notify_events(site_id, count=2, timeout=2.0)
    assert (announced.type, announced.data["channel"]) == ("NotificationSent", "sms")

    # A late carrier report is recorded as it comes.
    late = await receipt(notify, sent["id"], "delivered")
    assert late.json()["recorded"] is True
    detail = await notify.notification(sent["id"])
    assert (detail["receipt"]["status"], detail["receipt"]["error_code"]) == ("delivered", None)
    stream = await notify.pool.fetch(
        "SELECT type, data FROM events WHERE stream_id = $1 AND type = 'DeliveryReceiptRecorded'",
        f"notification-{sent['id']}",
    )
    assert [r["data"]["status"] for r in stream] == ["undelivered", "delivered"]
    assert {r["data"]["channel"] for r in stream} == {"sms"}
    assert phone[1:] not in repr([dict(r) for r in stream])  # no number in the event
    # One more than before (other modules in this process may have counted some).
    assert await receipts_counted(notify, "sms", "undelivered") == undelivered + 1

    trail = await notify.pool.fetch(
        "SELECT action, site_id FROM audit WHERE actor_id = 'inbound-sms'"
        " AND action = 'inbound_sms_status'"
    )
    assert len(trail) >= 3
    assert {r["site_id"] for r in trail} >= {site_id}


async def test_an_unknown_key_is_a_404(notify: Notify) -> None:
    for key in (str(uuid4()), "x" * 36):
        answer = await receipt(notify, key, "delivered")
        assert answer.status_code == 404
        assert answer.json()["detail"] == (
            "No SMS or messaging notification has that idempotency_key."
        )
        # Its audit entry says what was answered.
        status = await notify.pool.fetchval(
            "SELECT status FROM audit WHERE request_id = $1", answer.headers["X-Request-ID"]
        )
        assert status == 404


async def test_a_page_whose_receipt_failed_goes_again_at_once_by_the_fallback(
    notify: Notify, fallback: HttpSink
) -> None:
    site_id = await notify.new_site()
    phone = "+33655510002"
    staff_id = await notify.new_staff(site_id, phone=phone)
    page = PageRequested(
        alert_id=uuid4(), page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
    )
    await notify.publish(page, source="crisis", subject=page.alert_id)
    first = await settled(notify, staff_id, channel="sms")
    assert (first["status"], first["attempts"]) == ("sent", 1)
    assert [r for r in fallback.sms if r.to == phone] == []

    answer = await receipt(notify, first["id"], "failed", "30005")
    assert answer.status_code == 200, answer.text
    assert answer.json()["resent"] is True

    async def on_fallback() -> list[Any]:
        return [r for r in fallback.sms if r.to == phone]

    [again] = await eventually(on_fallback, timeout=10.0)
    assert again.idempotency_key == f"{first['id']}:1"  # the plain id would be a repeat

    async def resent() -> dict[str, Any]:
        detail = await notify.notification(first["id"])
        return detail if detail["status"] == "sent" and detail["attempts"] == 3 else {}

    detail = await eventually(resent, timeout=10.0)
    assert attempts(detail) == [
        ("sent", None),
        ("transient_failure", "receipt_failed"),
        ("sent", None),
    ]
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1  # not the primary
    # crisis hears NotificationSent again for the re-sent page.
    events = await notify.notify_events(site_id, count=3)
    sent_sms = [e for e in events if e.type == "NotificationSent" and e.data["channel"] == "sms"]
    assert [e.data["attempts"] for e in sent_sms] == [1, 3]

    # The fallback's own receipt names it; a delivered one ends the story.
    done = await receipt(notify, again.idempotency_key or "", "delivered", provider="fallback")
    assert done.json() == {"notification_id": first["id"], "recorded": True, "resent": False}
    detail = await notify.notification(first["id"])
    assert detail["receipt"]["provider"] == "fallback"


@pytest.mark.parametrize("path", ["/inbound/sms", "/inbound/sms/status"])
@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_without_the_secret_a_malformed_body_is_a_401_not_a_422(
    notify: Notify, path: str, secret: str | None
) -> None:
    headers = {"Authorization": ""}
    if secret is not None:
        headers["X-Webhook-Secret"] = secret
    answer = await notify.http.post(path, content=b"{not json", headers=headers)
    assert answer.status_code == 401, answer.text
    answer = await notify.http.post(path, json={"unexpected": 1}, headers=headers)
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("path", ["/inbound/sms", "/inbound/sms/status"])
async def test_with_the_secret_a_malformed_body_is_a_422(notify: Notify, path: str) -> None:
    headers = {"Authorization": "", "X-Webhook-Secret": SECRET}
    answer = await notify.http.post(path, json={"status": "lost"}, headers=headers)
    assert answer.status_code == 422, answer.text


async def test_a_page_whose_receipts_spend_its_attempts_fails_and_crisis_hears_it(
    notify: Notify, fallback: HttpSink
) -> None:
    site_id = await notify.new_site()
    phone = "+33655510003"
    staff_id = await notify.new_staff(site_id, phone=phone)
    page = PageRequested(
        alert_id=uuid4(), page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
    )
    await notify.publish(page, source="crisis", subject=page.alert_id)
    first = await settled(notify, staff_id, channel="sms")
    assert (await receipt(notify, first["id"], "failed", "30005")).json()["resent"] is True

    async def sent_again() -> dict[str, Any]:
        detail = await notify.notification(first["id"])
        return detail if detail["status"] == "sent" and detail["attempts"] == 3 else {}

    await eventually(sent_again, timeout=10.0)
    # The fallback's receipt fails too: attempt 4 of NOTIFY_MAX_ATTEMPTS 4, so it is given up.
    last = await receipt(notify, f"{first['id']}:1", "undelivered", provider="fallback")
    assert last.json()["resent"] is False
    detail = await notify.notification(first["id"])
    assert (detail["status"], detail["last_error"], detail["attempts"]) == (
        "failed",
        "receipt_failed",
        4,
    )
    events = await notify.notify_events(site_id, count=4)
    sms = [(e.type, e.data["attempts"]) for e in events if e.data["channel"] == "sms"]
    assert sms == [("NotificationSent", 1), ("NotificationSent", 3), ("NotificationFailed", 4)]
    assert len([r for r in fallback.sms if r.to == phone]) == 1  # nothing more sent
    metrics = (await notify.http.get("/metrics")).text
    assert 'notify_receipt_resends_total{outcome="given_up"} 1.0' in metrics


async def test_a_receipt_that_comes_while_the_message_is_being_sent_is_asked_again(
    notify: Notify,
) -> None:
    # A fast provider can report before notify has recorded its answer: recording then would
    # end the worker's claim and lose the send (the message would go again).
    site_id = await notify.new_site()
    client_id = uuid4()
    phone = "+33655510077"
    notify.directory.add(client_id, phone=phone, preferred_channel=Channel.SMS)
    notify.sinks.http.set_delay(3.0)
    try:
        await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)

        async def taken() -> list[Any]:
            return [r for r in notify.sinks.http.sms if r.to == phone]

        [request] = await eventually(taken, timeout=15.0)
        early = await receipt(notify, str(request.idempotency_key), "delivered")
        assert early.status_code == 503, early.text
        assert early.headers["Retry-After"] == "2"
        assert early.headers["content-type"] == "application/problem+json"
    finally:
        notify.sinks.http.set_delay(0.0)

    sent = await settled(notify, client_id)
    assert (sent["status"], attempts(sent), sent["receipt"]) == ("sent", [("sent", None)], None)
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1
    again = await receipt(notify, sent["id"], "delivered")
    assert again.status_code == 200
    assert (await notify.notification(sent["id"]))["receipt"]["status"] == "delivered"


async def test_a_clients_text_that_failed_goes_once_by_email(notify: Notify) -> None:
    phone, address = "+33655510011", "fell-back-1@mail.example"
    site_id, _, sent = await client_text(notify, phone, address)
    queued, went = (
        await fallbacks(notify, "sms", "queued"),
        await fallbacks(notify, "sms", "sent"),
    )

    answer = await receipt(notify, sent["id"], "failed", "30005")
    assert answer.json() == {"notification_id": sent["id"], "recorded": True, "resent": True}
    [email] = await eventually(lambda: emailed(notify, address), timeout=10.0)
    assert email.message["Message-ID"] == f"<{sent['id']}@notify.counseling-suite>"

    detail = await settled_by_email(notify, sent["id"])
    log = [(a["channel"], a["outcome"]) for a in detail["attempt_log"]]
    assert log == [("sms", "sent"), ("email", "sent")]
    assert (detail["receipt"]["status"], detail["receipt"]["error_code"]) == ("failed", "30005")
    assert await stream_types(notify, sent["id"]) == [
        "NotificationRequested",
        "DeliveryAttempted",
        "DeliverySucceeded",
        "DeliveryReceiptRecorded",
        "ChannelFellBack",
        "DeliveryAttempted",
        "DeliverySucceeded",
    ]
    # The same receipt again, another failed one, a late `delivered`: recorded, nothing sent.
    assert (await receipt(notify, sent["id"], "failed", "30005")).json()["recorded"] is False
    for status in ("undelivered", "delivered"):
        later = await receipt(notify, sent["id"], status)
        assert later.json() == {"notification_id": sent["id"], "recorded": True, "resent": False}
    await asyncio.sleep(1.0)  # a second email would be on its way by now
    assert len(emails_to(notify, address)) == 1
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1
    detail = await notify.notification(sent["id"])
    assert (detail["status"], detail["channel"], detail["receipt"]["status"]) == (
        "sent",
        "email",
        "delivered",
    )
    events = await notify.notify_events(site_id, count=3, timeout=3.0)
    assert [(e.type, e.data["channel"]) for e in events] == [
        ("NotificationSent", "sms"),
        ("NotificationSent", "email"),
    ]
    assert await fallbacks(notify, "sms", "queued") == queued + 1
    assert await fallbacks(notify, "sms", "sent") == went + 1


async def test_an_undelivered_messaging_text_goes_by_email(notify: Notify) -> None:
    phone, address = "+33655510012", "fell-back-2@mail.example"
    _, _, sent = await client_text(notify, phone, address, Channel.MESSAGING)

    answer = await receipt(notify, sent["id"], "undelivered", "63016")
    assert answer.json()["resent"] is True
    await eventually(lambda: emailed(notify, address), timeout=10.0)
    detail = await settled_by_email(notify, sent["id"])
    assert [(a["channel"], a["outcome"]) for a in detail["attempt_log"]] == [
        ("messaging", "sent"),
        ("email", "sent"),
    ]
    assert [r for r in notify.sinks.http.sms if r.to == phone] == []  # never another text


async def test_a_delivered_receipt_sends_nothing_more(notify: Notify) -> None:
    phone, address = "+33655510013", "delivered@mail.example"
    _, _, sent = await client_text(notify, phone, address)

    before = [await fallbacks(notify, "sms", o) for o in FALLBACK_OUTCOMES]
    answer = await receipt(notify, sent["id"], "delivered")
    assert answer.json() == {"notification_id": sent["id"], "recorded": True, "resent": False}
    await asyncio.sleep(1.0)
    assert [await fallbacks(notify, "sms", o) for o in FALLBACK_OUTCOMES] == before
    assert emails_to(notify, address) == []
    detail = await notify.notification(sent["id"])
    assert (detail["status"], detail["channel"], attempts(detail)) == (
        "sent",
        "sms",
        [("sent", None)],
    )
    assert "ChannelFellBack" not in await stream_types(notify, sent["id"])


async def test_two_failed_receipts_at_once_send_one_email(notify: Notify) -> None:
    phone, address = "+33655510014", "twice@mail.example"
    _, _, sent = await client_text(notify, phone, address)

    async def until_answered(status: str) -> httpx.Response:
        while True:  # a 503: a worker is sending the email that moment; the provider repeats
            answer = await receipt(notify, sent["id"], status, "30003")
            if answer.status_code != 503:
                return answer
            await asyncio.sleep(0.2)

    answers = await asyncio.gather(until_answered("failed"), until_answered("undelivered"))
    assert sorted(a.json()["resent"] for a in answers) == [False, True]
    await eventually(lambda: emailed(notify, address), timeout=10.0)
    await asyncio.sleep(1.0)
    assert len(emails_to(notify, address)) == 1
    assert (await stream_types(notify, sent["id"])).count("ChannelFellBack") == 1


async def test_a_message_of_no_use_any_more_is_recorded_only(notify: Notify) -> None:
    site_id = await notify.new_site()
    soon = notify.clock.now() + timedelta(seconds=3)
    reminded, offered, ahead = uuid4(), uuid4(), uuid4()
    for client_id, n in ((reminded, 5), (offered, 6), (ahead, 8)):
        notify.directory.add(
            client_id,
            email=f"late-{n}@mail.example",
            phone=f"+3365551001{n}",
            preferred_channel=Channel.SMS,
        )
    reminder = FollowUpDue(
        followup_id=uuid4(),
        client_id=reminded,
        site_id=site_id,
        kind=FollowUpKind.REMINDER,
        due_at=notify.clock.now(),
        appointment_start=soon,  # the session it reminds of begins in 3 s
    )
    offer = WaitlistOfferMade(
        offer_id=uuid4(),
        client_id=offered,
        site_id=site_id,
        appointment_start=soon + timedelta(days=1),
        accept_url="https://booking.example/offers/accept?t=signed",
        expires_at=soon,  # the offer lapses in 3 s
    )
    # The same reminder for a session an hour away: still of use, it falls back.
    useful = reminder.model_copy(
        update={
            "followup_id": uuid4(),
            "client_id": ahead,
            "appointment_start": soon + timedelta(hours=1),
        }
    )
    await notify.publish(reminder, source="followup", subject=reminded)
    await notify.publish(offer, source="booking", subject=offered)
    await notify.publish(useful, source="followup", subject=ahead)
    sent = [await settled(notify, reminded), await settled(notify, offered)]
    control = await settled(notify, ahead)
    expired = await fallbacks(notify, "sms", "expired")
    await asyncio.sleep(max((soon - notify.clock.now()).total_seconds(), 0) + 0.2)

    for detail in sent:
        answer = await receipt(notify, detail["id"], "failed", "30003")
        assert answer.json() == {"notification_id": detail["id"], "recorded": True, "resent": False}
    await asyncio.sleep(1.0)
    for detail, n in zip(sent, (5, 6), strict=True):
        assert emails_to(notify, f"late-{n}@mail.example") == []
        now = await notify.notification(detail["id"])
        assert (now["status"], now["channel"], now["receipt"]["status"]) == (
            "sent",
            "sms",
            "failed",
        )
        assert "ChannelFellBack" not in await stream_types(notify, detail["id"])
    assert await fallbacks(notify, "sms", "expired") == expired + 2
    assert (await receipt(notify, control["id"], "failed")).json()["resent"] is True
    await eventually(lambda: emailed(notify, "late-8@mail.example"), timeout=10.0)


async def test_the_email_waits_out_the_clients_quiet_hours(notify: Notify) -> None:
    phone, address = "+33655510017", "quiet@mail.example"
    site_id, client_id, sent = await client_text(notify, phone, address)
    await notify.new_client(site_id, client_id, timezone="UTC")
    now = notify.clock.now()
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=3)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200

    assert (await receipt(notify, sent["id"], "failed")).json()["resent"] is True

    async def held() -> dict[str, Any]:
        detail = await notify.notification(sent["id"])
        return detail if detail["held_for"] == "quiet_hours" else {}

    detail = await eventually(held, timeout=10.0)
    assert (detail["status"], detail["channel"]) == ("pending", "email")
    assert emails_to(notify, address) == []
    # Its quiet hours lifted, it goes (as any held message).
    assert (await notify.set_preferences(client_id, {})).status_code == 200
    await eventually(lambda: emailed(notify, address), timeout=10.0)


async def test_an_offer_that_expires_while_its_email_waits_is_dropped(notify: Notify) -> None:
    site_id = await notify.new_site()
    client_id, address = uuid4(), "lapsed@mail.example"
    notify.directory.add(
        client_id, email=address, phone="+33655510019", preferred_channel=Channel.SMS
    )
    soon = notify.clock.now() + timedelta(seconds=3)
    offer = WaitlistOfferMade(
        offer_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        appointment_start=soon + timedelta(days=1),
        accept_url="https://booking.example/offers/accept?t=signed",
        expires_at=soon,
    )
    await notify.publish(offer, source="booking", subject=client_id)
    sent = await settled(notify, client_id)
    await notify.new_client(site_id, client_id, timezone="UTC")
    now = notify.clock.now()
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=3)).strftime("%H:%M"),
    }
    assert (await notify.set_preferences(client_id, {"quiet_hours": quiet})).status_code == 200
    assert (await receipt(notify, sent["id"], "undelivered")).json()["resent"] is True
    asked = len(notify.directory.requests)

    async def held() -> dict[str, Any]:
        detail = await notify.notification(sent["id"])
        return detail if detail["held_for"] == "quiet_hours" else {}

    await eventually(held, timeout=10.0)
    await asyncio.sleep(max((soon - notify.clock.now()).total_seconds(), 0) + 0.2)
    # Quiet hours lifted after the offer lapsed: its email is dropped, booking not asked.
    assert (await notify.set_preferences(client_id, {})).status_code == 200

    async def dropped() -> dict[str, Any]:
        detail = await notify.notification(sent["id"])
        return detail if detail["status"] == "sent" else {}

    detail = await eventually(dropped, timeout=10.0)
    assert (detail["channel"], detail["last_error"], attempts(detail)) == (
        "sms",
        "expired",
        [("sent", None)],
    )
    assert emails_to(notify, address) == []
    assert str(client_id) not in notify.directory.requests[asked:]
