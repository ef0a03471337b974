# ruff: noqa: RUF001  (Korean and Russian text, and the Cyrillic letter es: meant)
"""A client's C/X reply to an appointment reminder by text (`POST /inbound/sms`): the
reminder says how to reply, in the client's language; a reply acts on the most recent
reminder sent to that number whose appointment is ahead, through booking
(`booking.reminder_replies`, played here by a small responder); the answer names the
appointment's local date and time. A STOP-ed number, an unknown one, or booking out of reach
acts on nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.codes import Channel, FollowUpKind
from counseling_shared.events import FollowUpDue
from counseling_shared.pruner import Pruner
from notify.application.erasure import erase_client
from notify.bootstrap import definition as notify_definition
from tests.notify.integration.conftest import Notify, eventually, text_in
from tests.notify.integration.responders import FEE, FakeBooking

pytestmark = pytest.mark.integration

SECRET = "reminder-reply-test-secret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"inbound_sms_secret": SECRET}


@pytest.fixture
def phone() -> str:
    return f"+3366{uuid4().int % 10**7:07d}"


async def reply(notify: Notify, sender: str, text: str) -> dict[str, Any]:
    return await text_in(notify, SECRET, sender, text)


@dataclass(frozen=True)
class Reminded:
    client_id: UUID
    appointment_id: UUID
    start: datetime
    text: str


async def remind_unkept(
    notify: Notify,
    phone: str,
    *,
    locale: str = "en",
    zone: str = "Europe/Paris",
    hours_ahead: float = 30,
    client_id: UUID | None = None,
    site_id: UUID | None = None,
    channel: Channel = Channel.SMS,
) -> Reminded:
    """A reminder by SMS (or messaging) to `phone`, as followup announces it; once sent."""
    site_id = site_id or await notify.new_site()
    client_id = client_id or uuid4()
    notify.directory.add(
        client_id, phone=phone, locale=locale, timezone=zone, preferred_channel=channel
    )
    appointment_id = uuid4()
    start = (notify.clock.now() + timedelta(hours=hours_ahead)).replace(microsecond=0)
    due = FollowUpDue(
        followup_id=uuid4(),
        client_id=client_id,
        site_id=site_id,
        kind=FollowUpKind.REMINDER,
        due_at=notify.clock.now(),
        channel=channel,
        appointment_start=start,
        manage_url=f"https://booking.example/appointments/{appointment_id}/manage?token=t0k",
        appointment_id=appointment_id,
    )
    await notify.publish(due, source="followup", subject=client_id)
    sink = notify.sinks.http

    async def sent() -> list[Any]:
        return [r for r in sink.requests() if r.to == phone and str(appointment_id) in r.body]

    [message] = await eventually(sent, timeout=15.0)
    return Reminded(client_id, appointment_id, start, message.body)


async def remind(notify: Notify, phone: str, **how: Any) -> Reminded:
    """A reminder by text, sent and kept for replies."""
    reminded = await remind_unkept(notify, phone, **how)
    # Kept once the provider took it (just after the sink answered).
    await eventually(
        lambda: notify.pool.fetchval(
            "SELECT 1 FROM sms_reminders WHERE appointment_id = $1", reminded.appointment_id
        )
    )
    return reminded


def _local(start: datetime, zone: str) -> datetime:
    return start.astimezone(ZoneInfo(zone))


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en", "Reply C to confirm or X to cancel."),
        ("fr", "Répondez C pour confirmer ou X pour annuler."),
        ("ko", "확인은 C, 취소는 X로 답장해 주세요."),
        ("ru", "Ответьте C, чтобы подтвердить, или X, чтобы отменить."),
    ],
)
async def test_the_reminder_says_how_to_reply_in_the_clients_language(
    notify: Notify, phone: str, locale: str, says: str
) -> None:
    reminded = await remind(notify, phone, locale=locale)

    assert says in reminded.text
    assert "/manage?token=t0k" in reminded.text  # the link stays


async def test_c_confirms_the_reminded_appointment_and_names_its_local_time(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    reminded = await remind(notify, phone, locale="fr", zone="Europe/Paris")
    # The provider may write the number otherwise than booking does: the same number.
    written = "00" + phone[1:3] + " " + phone[3:6] + " " + phone[6:]

    answer = await reply(notify, written, " c. ")

    assert answer["keyword"] is None
    assert answer["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    [asked] = booking.requests
    assert (asked["appointment_id"], asked["client_id"]) == (
        str(reminded.appointment_id),
        str(reminded.client_id),
    )
    assert datetime.fromisoformat(asked["start"]) == reminded.start
    assert (asked["action"], asked["shown_late"]) == ("confirm", False)
    local = _local(reminded.start, "Europe/Paris")
    assert answer["reply"].startswith("Merci : votre rendez-vous du ")
    assert local.strftime("%H:%M") in answer["reply"]
    assert str(local.day) in answer["reply"]
    assert phone not in json.dumps(asked)  # no number on the bus


async def test_a_late_x_announces_the_fee_and_a_second_x_within_minutes_cancels(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone, locale="en", hours_ahead=10)

    first = await reply(notify, phone, "X")

    assert first["reminder_reply"] == {"action": "cancel", "outcome": "late_needs_repeat"}
    assert "€40.00" in first["reply"]
    assert "reply X again within 5 minutes" in first["reply"]
    assert booking.requests[-1]["shown_late"] is False
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=40))  # the fee read

    second = await reply(notify, phone, "x")

    assert booking.requests[-1]["shown_late"] is True
    assert second["reminder_reply"] == {"action": "cancel", "outcome": "cancelled"}
    assert "is cancelled" in second["reply"]
    assert "€40.00" in second["reply"]


async def test_two_xs_at_once_never_cancel_with_a_fee_the_client_could_not_have_read(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    """X typed twice, or one X the carrier delivered twice: the second comes before the
    fee's announcement could be read, so it is answered with the fee again; the window keeps
    its start, and the client's X after reading it cancels."""
    await remind(notify, phone, hours_ahead=10)
    await reply(notify, phone, "X")
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=2))

    again = await reply(notify, phone, "X")

    assert again["reminder_reply"]["outcome"] == "late_needs_repeat"
    assert "€40.00" in again["reply"]
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=28))
    read = await reply(notify, phone, "X")
    assert [r["shown_late"] for r in booking.requests] == [False, False, True]
    assert read["reminder_reply"]["outcome"] == "cancelled"


async def test_a_fee_changed_between_the_two_xs_is_announced_and_the_window_restarts(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    """The second X carries the fee the first one announced; booking, whose fee changed
    meanwhile, answers with the new one: the client is told it, and only an X after reading
    it cancels, with it."""
    raised = {"amount": "60.00", "currency": "EUR"}

    def script(request: dict[str, Any]) -> dict[str, Any]:
        if request["shown_late"] and request["shown_fee"] == raised:
            return {"outcome": "cancelled", "start": request["start"], "fee": raised}
        return {"outcome": "late_needs_repeat", "start": request["start"], "fee": raised}

    await remind(notify, phone, hours_ahead=10)
    await reply(notify, phone, "X")  # 40 € announced
    booking.script = script
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=40))

    second = await reply(notify, phone, "X")

    assert (booking.requests[-1]["shown_late"], booking.requests[-1]["shown_fee"]) == (True, FEE)
    assert second["reminder_reply"]["outcome"] == "late_needs_repeat"
    assert "€60.00" in second["reply"]
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=2))  # before 60 € was read
    too_soon = await reply(notify, phone, "X")
    assert (booking.requests[-1]["shown_late"], too_soon["reminder_reply"]["outcome"]) == (
        False,
        "late_needs_repeat",
    )
    notify.clock.jump_to(notify.clock.now() + timedelta(seconds=30))  # the window restarted

    third = await reply(notify, phone, "X")

    assert (booking.requests[-1]["shown_late"], booking.requests[-1]["shown_fee"]) == (
        True,
        raised,
    )
    assert third["reminder_reply"]["outcome"] == "cancelled"
    assert "€60.00" in third["reply"]


async def test_a_first_x_and_a_confirmation_carry_no_fee(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone, hours_ahead=10)

    await reply(notify, phone, "X")
    await reply(notify, phone, "C")

    assert [(r["shown_late"], r["shown_fee"]) for r in booking.requests] == [(False, None)] * 2


async def test_a_phone_shared_by_two_clients_acts_on_nothing_and_names_no_one(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    """A household's phone gets reminders for two clients: a C or X cannot say whose
    appointment it means, so it does nothing, and the answer names no one and no time."""
    site_id = await notify.new_site()
    first = await remind(notify, phone, site_id=site_id, locale="fr", hours_ahead=30)
    second = await remind(notify, phone, site_id=site_id, locale="fr", hours_ahead=50)

    for text in ("C", "X", "annuler"):
        answer = await reply(notify, phone, text)
        assert answer["reminder_reply"]["outcome"] == "shared_number", text
        assert "plus d'une personne" in answer["reply"]
        for reminded in (first, second):
            assert _local(reminded.start, "Europe/Paris").strftime("%H:%M") not in answer["reply"]
    assert booking.requests == []
    assert "more than one person" in (await reply(notify, phone, "confirm"))["reply"]
    # Whose the number still is: one batched question to booking's directory.
    assert sorted(notify.directory.batches[-1]) == sorted(str(r.client_id) for r in (first, second))


async def test_a_shared_phone_with_the_directory_out_of_reach_acts_on_nothing(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    site_id = await notify.new_site()
    await remind(notify, phone, site_id=site_id, hours_ahead=30)
    await remind(notify, phone, site_id=site_id, hours_ahead=50)
    await notify.directory.stop()
    try:
        answer = await reply(notify, phone, "X")
    finally:
        await notify.directory.start()

    assert answer["reminder_reply"]["outcome"] == "unavailable"
    assert booking.requests == []


async def test_a_shared_phone_acts_again_once_it_is_one_clients_number(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    """One of the two gave booking another number: the phone is the other's alone."""
    site_id = await notify.new_site()
    stays = await remind(notify, phone, site_id=site_id, hours_ahead=50)
    gone = await remind(notify, phone, site_id=site_id, hours_ahead=30)  # the latest sent
    notify.directory.add(gone.client_id, phone="+33 6 99 88 77 66")

    answer = await reply(notify, phone, "C")

    assert answer["reminder_reply"]["outcome"] == "confirmed"
    [asked] = booking.requests
    assert asked["appointment_id"] == str(stays.appointment_id)


async def test_a_shared_phone_whose_other_reminder_has_started_acts_again(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    site_id = await notify.new_site()
    soon = await remind(notify, phone, site_id=site_id, hours_ahead=1)
    later = await remind(notify, phone, site_id=site_id, hours_ahead=50)
    assert (await reply(notify, phone, "C"))["reminder_reply"]["outcome"] == "shared_number"
    notify.clock.jump_to(soon.start + timedelta(seconds=1))

    answer = await reply(notify, phone, "C")

    assert answer["reminder_reply"]["outcome"] == "confirmed"
    assert [r["appointment_id"] for r in booking.requests] == [str(later.appointment_id)]


async def test_a_second_x_after_the_window_announces_the_fee_again(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone, hours_ahead=10)
    await reply(notify, phone, "X")
    notify.clock.jump_to(notify.clock.now() + timedelta(minutes=6))

    late = await reply(notify, phone, "X")

    assert [r["shown_late"] for r in booking.requests] == [False, False]
    assert late["reminder_reply"]["outcome"] == "late_needs_repeat"


async def test_a_number_with_no_reminder_acts_on_nothing(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    answer = await reply(notify, phone, "취소")

    assert answer["reminder_reply"] == {"action": "cancel", "outcome": "no_reminder"}
    assert "알림을 찾지 못했습니다" in answer["reply"]  # in the word's language
    assert booking.requests == []


async def test_another_number_cannot_act_on_a_clients_reminder(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone)
    someone_else = phone[:-1] + str((int(phone[-1]) + 1) % 10)

    answer = await reply(notify, someone_else, "X")

    assert answer["reminder_reply"]["outcome"] == "no_reminder"
    assert booking.requests == []


async def test_a_number_the_client_has_since_replaced_cannot_act_on_their_reminder(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    """A client who left a phone behind (given up, or in someone else's hands) and gave
    booking a new number: the old number's C or X acts on nothing, as a stranger's."""
    reminded = await remind(notify, phone, hours_ahead=10)
    notify.directory.add(reminded.client_id, phone="+33 6 99 88 77 66")

    answer = await reply(notify, phone, "X")

    assert answer["reminder_reply"]["outcome"] == "no_reminder"
    assert booking.requests == []
    notify.directory.add(reminded.client_id, phone=phone.replace("+33", "0033 "))
    assert (await reply(notify, phone, "C"))["reminder_reply"]["outcome"] == "confirmed"


async def test_the_most_recent_reminder_wins_and_the_answer_names_its_time(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    site_id = await notify.new_site()
    client_id = uuid4()
    first = await remind(notify, phone, site_id=site_id, client_id=client_id, hours_ahead=47)
    latest = await remind(notify, phone, site_id=site_id, client_id=client_id, hours_ahead=26)

    answer = await reply(notify, phone, "confirm")

    [asked] = booking.requests
    assert asked["appointment_id"] == str(latest.appointment_id) != str(first.appointment_id)
    assert _local(latest.start, "Europe/Paris").strftime("%-I:%M") in answer["reply"]


async def test_a_reminder_by_messaging_takes_replies_from_the_same_number(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    reminded = await remind(notify, phone, channel=Channel.MESSAGING, locale="ru")

    answer = await reply(notify, phone, "С")  # the Cyrillic letter es, as a Russian phone types

    assert answer["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    assert booking.requests[0]["appointment_id"] == str(reminded.appointment_id)
    assert answer["reply"].startswith("Спасибо")


async def test_stop_wins_a_stopped_numbers_c_or_x_does_nothing(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone)
    assert (await reply(notify, phone, "STOP"))["keyword"] == "stop"

    for text in ("C", "X"):
        answer = await reply(notify, phone, text)
        assert answer["reminder_reply"]["outcome"] == "opted_out"
        assert "Reply START" in answer["reply"]
    assert booking.requests == []


async def test_cancel_is_still_stop_not_a_reply(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    await remind(notify, phone)

    answer = await reply(notify, phone, "CANCEL")

    assert (answer["keyword"], answer["reminder_reply"]) == ("stop", None)
    assert booking.requests == []


async def test_a_started_appointments_reminder_no_longer_takes_replies(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    reminded = await remind(notify, phone, hours_ahead=1)
    notify.clock.jump_to(reminded.start + timedelta(seconds=1))

    answer = await reply(notify, phone, "C")

    assert answer["reminder_reply"]["outcome"] == "no_reminder"
    assert booking.requests == []


async def test_booking_out_of_reach_says_try_later_and_records_nothing(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    reminded = await remind(notify, phone, hours_ahead=10)
    await booking.stop()

    answer = await reply(notify, phone, "X")

    assert answer["reminder_reply"] == {"action": "cancel", "outcome": "unavailable"}
    assert "try again later" in answer["reply"]
    asked_at = await notify.pool.fetchval(
        "SELECT cancel_asked_at FROM sms_reminders WHERE appointment_id = $1",
        reminded.appointment_id,
    )
    assert asked_at is None  # no fee announced: the next X is a first X


async def test_each_outcome_has_its_text(notify: Notify, booking: FakeBooking, phone: str) -> None:
    reminded = await remind(notify, phone, locale="fr")
    moved_to = reminded.start + timedelta(days=1, hours=2)
    answers = {
        "already_confirmed": ("déjà confirmé", None),
        "over": ("ne peut plus être modifié", None),
        "moved": ("a été déplacé au", moved_to.isoformat()),
        "cancelled": ("est annulé.", None),
    }
    for outcome, (says, start) in answers.items():

        def script(request: dict[str, Any], o: str = outcome, s: str | None = start) -> Any:
            return {"outcome": o, "start": s or request["start"], "fee": None}

        booking.script = script
        answer = await reply(notify, phone, "annuler")
        assert answer["reminder_reply"]["outcome"] == outcome
        assert says in answer["reply"], (outcome, answer["reply"])
        if outcome == "moved":  # the new time, as booking has it now
            assert _local(moved_to, "Europe/Paris").strftime("%H:%M") in answer["reply"]


async def test_an_erased_clients_reminders_take_no_more_replies(
    notify: Notify, booking: FakeBooking, phone: str
) -> None:
    reminded = await remind(notify, phone)

    async with notify.pool.acquire() as conn:
        erased = await erase_client(conn, reminded.client_id)

    assert erased["sms_reminders"] == 1
    answer = await reply(notify, phone, "X")
    assert answer["reminder_reply"]["outcome"] == "no_reminder"
    assert booking.requests == []


async def test_a_reminders_row_is_pruned_once_its_appointment_started_with_no_later_reminder(
    notify: Notify, phone: str
) -> None:
    """The service's own pruning (not the next reminder to the number, which may never come)
    deletes the row of a number, client and appointment once the appointment has started,
    on the service's clock; a reminder still ahead stays."""
    started = await remind(notify, phone, hours_ahead=1)
    ahead = await remind(notify, f"+3366{uuid4().int % 10**7:07d}", hours_ahead=30)
    [target] = [t for t in notify_definition().prune_targets if t.table == "sms_reminders"]
    pruner = Pruner(notify.pool, [target], clock=notify.clock)

    async def kept() -> set[UUID]:
        rows = await notify.pool.fetch(
            "SELECT appointment_id FROM sms_reminders WHERE appointment_id = ANY($1::uuid[])",
            [started.appointment_id, ahead.appointment_id],
        )
        return {r["appointment_id"] for r in rows}

    notify.clock.jump_to(started.start - timedelta(seconds=1))
    await pruner.prune_once()
    assert await kept() == {started.appointment_id, ahead.appointment_id}  # still ahead

    notify.clock.jump_to(started.start + timedelta(seconds=1))
    deleted = await pruner.prune_once()

    assert deleted["sms_reminders"] >= 1
    assert await kept() == {ahead.appointment_id}
