"""One number for clients and staff (notify's `POST /inbound/sms`): an `ACK <code>`, and a
text from an active staff member's phone, are handed to crisis over `crisis.staff_replies`
(played here by a small responder) as the number's staff-phone digests and a coded command,
never the number or the text; crisis's answer is texted back. A client's texts never wait
for crisis; crisis down or slow: an ACK is answered "NOT acknowledged", a STOP is recorded by
notify all the same."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.phones import key_fingerprint, keyed_digest
from counseling_shared.staff_replies import StaffCommand
from notify.adapters import opt_outs
from notify.domain.staff_unavailable import TEXTS, unavailable_text
from tests.notify.integration.conftest import Notify, text_in
from tests.notify.integration.responders import FakeBooking, FakeCrisis
from tests.notify.integration.test_reminder_replies import remind

pytestmark = pytest.mark.integration

SECRET = "staff-replies-test-secret"  # noqa: S105 (a test credential)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"inbound_sms_secret": SECRET}


def new_phone() -> str:
    return f"+3367{uuid4().int % 10**7:07d}"


async def text(notify: Notify, sender: str, body: str) -> dict[str, Any]:
    return await text_in(notify, SECRET, sender, body)


async def staff_phone(notify: Notify) -> str:
    phone = new_phone()
    await notify.new_staff(await notify.new_site(), phone=phone)
    return phone


async def test_an_ack_is_handed_to_crisis_as_digests_and_a_code_and_its_answer_texted_back(
    notify: Notify, crisis: FakeCrisis
) -> None:
    phone = new_phone()  # crisis, not notify, decides whose phone it is

    answer = await text(notify, phone, " ack 1a2b3c ")

    assert answer["reply"] == "crisis says ack 1A2B3C"
    assert (answer["keyword"], answer["reminder_reply"]) == (None, None)
    assert answer["staff_reply"] == {"command": "ack", "outcome": "answered"}
    [asked] = crisis.requests
    key = notify.settings.link_keys[0]
    assert asked == {
        "sender": [
            {
                "key": key_fingerprint("staff-phone", key),
                "digest": keyed_digest("staff-phone", key, phone),
            }
        ],
        "command": "ack",
        "code": "1A2B3C",
    }
    assert phone[1:] not in json.dumps(asked)  # no number in clear, no text


async def test_a_staff_phones_stop_is_recorded_by_notify_and_by_crisis(
    notify: Notify, crisis: FakeCrisis
) -> None:
    phone = await staff_phone(notify)
    written = "00" + phone[1:3] + " " + phone[3:6] + " " + phone[6:]  # the same number

    answer = await text(notify, written, "Stop!")

    assert answer["reply"] == "crisis says stop"
    assert (answer["keyword"], answer["staff_reply"]) == (
        "stop",
        {"command": "stop", "outcome": "answered"},
    )
    assert [r["command"] for r in crisis.requests] == ["stop"]
    assert await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)
    help_answer = await text(notify, phone, "HELP")
    assert help_answer["reply"] == "crisis says help"


async def test_a_clients_texts_are_not_handed_to_crisis(notify: Notify, crisis: FakeCrisis) -> None:
    await staff_phone(notify)  # someone else's
    phone = new_phone()

    stop = await text(notify, phone, "STOP")
    other = await text(notify, phone, "see you tomorrow")

    assert (stop["keyword"], stop["staff_reply"]) == ("stop", None)
    assert stop["reply"].startswith("You will get no more texts from this number.")
    assert other["reply"].startswith("Replies to this number are not read")
    assert crisis.requests == []
    assert await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)


async def test_a_phone_crisis_does_not_know_as_staff_gets_the_clients_answer(
    notify: Notify, crisis: FakeCrisis
) -> None:
    crisis.not_staff = True  # its copy of the staff is behind notify's, say
    phone = await staff_phone(notify)

    answer = await text(notify, phone, "STOP")

    assert [r["command"] for r in crisis.requests] == ["stop"]
    assert (answer["keyword"], answer["staff_reply"]) == ("stop", None)
    assert answer["reply"].startswith("You will get no more texts from this number.")
    assert await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)


async def test_crisis_down_an_ack_says_it_did_not_go_through_and_a_stop_still_holds(
    notify: Notify,
) -> None:
    phone = await staff_phone(notify)

    ack = await text(notify, phone, "ACK 1A2B3C")
    stop = await text(notify, phone, "STOP")
    help_answer = await text(notify, phone, "HELP")

    assert ack["staff_reply"] == {"command": "ack", "outcome": "unavailable"}
    assert ack["reply"].startswith("NOT acknowledged: the crisis service did not answer.")
    assert stop["staff_reply"] == {"command": "stop", "outcome": "unavailable"}
    assert "text STOP again" in stop["reply"]
    assert await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)
    # HELP needs an answer whoever asks: notify's own.
    assert help_answer["staff_reply"] is None
    assert help_answer["reply"].startswith("Messages from your counseling center.")


async def test_crisis_slow_an_ack_times_out_while_a_clients_stop_is_answered_at_once(
    notify: Notify, crisis: FakeCrisis
) -> None:
    crisis.delay = 10.0
    staff, client = await staff_phone(notify), new_phone()

    ack = asyncio.create_task(text(notify, staff, "ACK 1A2B3C"))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    stop = await text(notify, client, "STOP")
    took = time.monotonic() - started

    assert stop["reply"].startswith("You will get no more texts from this number.")
    assert took < 2.0
    assert not ack.done()
    answered = await ack
    assert answered["staff_reply"] == {"command": "ack", "outcome": "unavailable"}
    assert answered["reply"].startswith("NOT acknowledged")


async def test_an_esc_from_anyone_is_handed_to_crisis_and_crisis_down_says_not_escalated(
    notify: Notify, crisis: FakeCrisis
) -> None:
    """`ESC <code>` goes as `ACK <code>` does: from any phone (crisis knows staff phones)."""
    answer = await text(notify, new_phone(), "esc 1a2b3c")

    assert answer["reply"] == "crisis says escalate 1A2B3C"
    assert answer["staff_reply"] == {"command": "escalate", "outcome": "answered"}
    assert [(r["command"], r["code"]) for r in crisis.requests] == [("escalate", "1A2B3C")]
    await crisis.stop()
    down = await text(notify, new_phone(), "ESC 1A2B3C")
    assert down["staff_reply"] == {"command": "escalate", "outcome": "unavailable"}
    assert down["reply"].startswith("NOT escalated: the crisis service did not answer.")


async def test_a_res_from_anyone_is_handed_to_crisis_with_its_coded_outcome(
    notify: Notify, crisis: FakeCrisis
) -> None:
    """`RES <code> <n>` goes as `ACK <code>` does, its digit as the outcome's code; `RES
    <code>` alone goes without one (crisis answers the list); crisis down: not resolved."""
    answer = await text(notify, new_phone(), "res 1a2b3c 4")
    listing = await text(notify, new_phone(), "RES 1A2B3C")

    assert answer["reply"] == "crisis says resolve 1A2B3C"
    assert answer["staff_reply"] == {"command": "resolve", "outcome": "answered"}
    assert listing["staff_reply"] == {"command": "resolve", "outcome": "answered"}
    assert [(r["command"], r["code"], r.get("resolve_outcome")) for r in crisis.requests] == [
        ("resolve", "1A2B3C", "police"),
        ("resolve", "1A2B3C", None),
    ]
    await crisis.stop()
    down = await text(notify, new_phone(), "RES 1A2B3C 1")
    assert down["staff_reply"] == {"command": "resolve", "outcome": "unavailable"}
    assert down["reply"].startswith("NOT resolved: the crisis service did not answer.")


async def test_a_bare_korean_ack_word_from_a_staff_phone_gets_crisiss_answer(
    notify: Notify, crisis: FakeCrisis
) -> None:
    """`확인` is the Korean ACK word (with a page's code) and a client's confirm (alone): from
    a staff phone no reminder went to, it is crisis's (how to ACK), not "no reminder"."""
    phone = await staff_phone(notify)

    answer = await text(notify, phone, " 확인. ")

    assert answer["reply"] == "crisis says other"
    assert answer["staff_reply"] == {"command": "other", "outcome": "answered"}
    assert answer["reminder_reply"] is None
    assert [r["command"] for r in crisis.requests] == ["other"]


async def test_a_staff_phone_that_is_also_a_clients_with_a_reminder_confirms_it(
    notify: Notify, crisis: FakeCrisis, booking: FakeBooking
) -> None:
    phone = await staff_phone(notify)
    await remind(notify, phone, locale="ko")

    answer = await text(notify, phone, "확인")

    assert answer["reminder_reply"] == {"action": "confirm", "outcome": "confirmed"}
    assert answer["staff_reply"] is None
    assert crisis.requests == []


async def test_a_bare_korean_ack_word_crisis_does_not_take_is_the_clients_confirm(
    notify: Notify, crisis: FakeCrisis
) -> None:
    crisis.not_staff = True
    phone = await staff_phone(notify)

    answer = await text(notify, phone, "확인")

    assert [r["command"] for r in crisis.requests] == ["other"]
    assert answer["staff_reply"] is None
    assert answer["reminder_reply"] == {"action": "confirm", "outcome": "no_reminder"}


@pytest.mark.parametrize(
    ("locale", "starts"),
    [
        ("ko-KR", "확인되지 않았습니다"),
        ("fr_CA", "PAS pris en charge"),
        ("ru", TEXTS["ru"][StaffCommand.ACK][:12]),
        ("de", "NOT acknowledged"),
    ],
)
async def test_crisis_down_the_answer_is_in_the_staff_members_language(
    notify: Notify, locale: str, starts: str
) -> None:
    phone = new_phone()
    await notify.new_staff(await notify.new_site(), phone=phone, locale=locale)

    ack = await text(notify, phone, "ACK 1A2B3C")
    stop = await text(notify, phone, "STOP")

    assert ack["staff_reply"] == {"command": "ack", "outcome": "unavailable"}
    assert ack["reply"].startswith(starts)
    assert stop["reply"] == unavailable_text(StaffCommand.STOP, locale)


async def test_crisis_down_an_ack_from_a_number_that_is_nobodys_is_answered_in_english(
    notify: Notify,
) -> None:
    ack = await text(notify, new_phone(), "확인 1A2B3C")

    assert ack["reply"].startswith("NOT acknowledged: the crisis service did not answer.")
