"""The whole suite on the authenticated bus: booking → followup → notify texts the reminder
("Répondez C pour confirmer ou X pour annuler"), the client's reply to notify's
`POST /inbound/sms` goes to booking over `booking.reminder_replies` (notify's user may ask,
booking's answers), and booking confirms or cancels; a late X announces the fee first; a
reminder of a time since moved acts on nothing."""

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.e2e.center import Center, created, followup_texts, unique_phone
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e

SMS_SECRET = "e2e-reminder-replies-secret"  # noqa: S105 (a test credential)
SUITE_EXTRA_ENV = {"INBOUND_SMS_SECRET": SMS_SECRET}


def _zone_at_midday() -> str:
    """A fixed-offset zone where it is about noon now: the reminder is not held for quiet
    hours whenever the suite runs."""
    offset = 12 - datetime.now(UTC).hour
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


async def _reminded(suite: Suite, *, hours_ahead: int, fee: bool = False) -> tuple[Any, ...]:
    """A French client reached by SMS, booked `hours_ahead` from now, whose reminder text
    falls due in seconds: the appointment, the phone, the reminder's text."""
    center = await Center.open(suite, timezone=_zone_at_midday(), locale="fr")
    await center.set_followup_policy(appointment_reminders=[f"PT{hours_ahead - 1}H59M56S"])
    if fee:
        async with suite.client("booking") as booking:
            rules = await booking.put(
                f"/sites/{center.site_id}/booking-rules",
                json={"missed_session_fee": {"amount": "40.00", "currency": "EUR"}},
            )
            assert rules.status_code == 200, rules.text
    phone = unique_phone()
    client = await center.register_client(phone=phone, preferred_channel="sms", locale="fr")
    appointment = await center.book_soon(client["id"], in_seconds=hours_ahead * 3600)

    async def reminder() -> list[Any]:
        texts = await followup_texts(suite, client["id"], phone)
        return [t for t in texts if "Répondez C" in t.body]

    [text] = await eventually(reminder, timeout=30)
    return appointment, phone, text.body


async def _reply(suite: Suite, phone: str, text: str) -> dict[str, Any]:
    async with suite.client("notify") as notify:
        answer = await notify.post(
            "/inbound/sms",
            json={"from": phone, "text": text},
            headers={"X-Webhook-Secret": SMS_SECRET, "Authorization": ""},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _appointment(suite: Suite, appointment_id: str) -> dict[str, Any]:
    async with suite.client("booking") as booking:
        return created(await booking.get(f"/appointments/{appointment_id}"))


async def _replied(suite: Suite, phone: str, text: str) -> dict[str, Any]:
    """The reply, asked again while the reminder is not yet kept (the provider's answer and
    notify's row are a moment apart)."""

    async def answered() -> dict[str, Any] | None:
        answer = await _reply(suite, phone, text)
        return None if answer["reminder_reply"]["outcome"] == "no_reminder" else answer

    found: dict[str, Any] = await eventually(answered, timeout=10)
    return found


async def test_c_from_the_clients_phone_confirms_the_appointment(suite: Suite) -> None:
    appointment, phone, reminder = await _reminded(suite, hours_ahead=48)
    assert "Répondez C pour confirmer ou X pour annuler." in reminder
    assert "/manage?token=" in reminder

    answer = await _replied(suite, phone, "C")

    assert answer["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    assert answer["reply"].startswith("Merci : votre rendez-vous du ")
    confirmed = await _appointment(suite, appointment["id"])
    assert (confirmed["status"], confirmed["confirmed_at"] is not None) == ("booked", True)
    again = await _reply(suite, phone, "c")
    assert again["reminder_reply"]["outcome"] == "already_confirmed"


async def _fee_read(suite: Suite) -> None:
    """A second X within 30 s of the fee's announcement was sent before it could be read:
    the announcement is moved 40 s back rather than the test waiting that long."""
    conn = await asyncpg.connect(suite.database_url("notify"))
    try:
        await conn.execute(
            "UPDATE sms_reminders SET cancel_asked_at = cancel_asked_at - interval '40 seconds'"
        )
    finally:
        await conn.close()


async def test_a_late_x_announces_the_fee_and_the_second_x_cancels_with_it(
    suite: Suite,
) -> None:
    appointment, phone, _ = await _reminded(suite, hours_ahead=20, fee=True)

    first = await _replied(suite, phone, "X")

    assert first["reminder_reply"] == {"action": "cancel", "outcome": "late_needs_repeat"}
    assert "40,00" in first["reply"]
    assert (await _appointment(suite, appointment["id"]))["status"] == "booked"
    await _fee_read(suite)

    second = await _reply(suite, phone, "annuler")

    assert second["reminder_reply"] == {"action": "cancel", "outcome": "cancelled"}
    cancelled = await _appointment(suite, appointment["id"])
    assert (cancelled["status"], cancelled["cancelled_by"], cancelled["late"]) == (
        "cancelled",
        "client",
        True,
    )
    assert cancelled["fee_due"] == {"amount": "40.00", "currency": "EUR"}


async def test_a_fee_changed_between_the_two_xs_is_announced_and_not_charged(
    suite: Suite,
) -> None:
    """The fee notify announced travels with the second X; booking, whose fee was raised
    meanwhile, answers with the new one and cancels only on an X that was told it."""
    appointment, phone, _ = await _reminded(suite, hours_ahead=20, fee=True)
    await _replied(suite, phone, "X")  # 40,00 € announced
    raised = {"amount": "55.00", "currency": "EUR"}
    async with suite.client("booking") as booking:
        rules = await booking.put(
            f"/sites/{appointment['site_id']}/booking-rules", json={"missed_session_fee": raised}
        )
        assert rules.status_code == 200, rules.text
    await _fee_read(suite)

    second = await _reply(suite, phone, "X")

    assert second["reminder_reply"] == {"action": "cancel", "outcome": "late_needs_repeat"}
    assert "55,00" in second["reply"]
    assert (await _appointment(suite, appointment["id"]))["status"] == "booked"
    await _fee_read(suite)
    third = await _reply(suite, phone, "X")
    assert third["reminder_reply"] == {"action": "cancel", "outcome": "cancelled"}
    assert (await _appointment(suite, appointment["id"]))["fee_due"] == raised


async def test_the_old_reminder_cannot_act_after_a_reschedule(suite: Suite) -> None:
    appointment, phone, _ = await _reminded(suite, hours_ahead=48)
    new_start = datetime.fromisoformat(appointment["start"]) + timedelta(days=1)
    async with suite.client("booking") as booking:
        moved = await booking.post(
            f"/appointments/{appointment['id']}/reschedule", json={"start": new_start.isoformat()}
        )
    assert moved.status_code == 200, moved.text

    answer = await _replied(suite, phone, "X")

    assert answer["reminder_reply"] == {"action": "cancel", "outcome": "moved"}
    assert "a été déplacé" in answer["reply"]
    still = await _appointment(suite, appointment["id"])
    assert (still["status"], still["confirmed_at"]) == ("booked", None)
