"""A page's phone call (notify places it with `PAGE_CALLS`; crisis speaks it): Twilio asks
crisis's `/inbound/voice/twilio?code=` what to say when the call is answered, posts the key
pressed to `/gather?code=` and the call's end to `/status?code=`, each signed for crisis's
public URL. Key 1 acknowledges as the called staff member, as their `ACK <code>` text would;
2 repeats; no key and an answering machine acknowledge nothing."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
    pages,
    twilio_sms,
)
from tests.crisis.integration.steps import alert, flag, put_policy, staff_registered
from tests.fake_twilio import signed

pytestmark = pytest.mark.integration

PUBLIC = "https://crisis.center.example/sms"  # the ingress strips `/sms`
CALL = "/inbound/voice/twilio"
CALL_SID = "CA" + uuid4().hex  # the audited call's; every other post is a call of its own


@pytest.fixture(scope="module")
async def crisis(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    async with start_crisis(**twilio_sms(PUBLIC)) as running:
        yield running


def phone() -> str:
    return f"+3366{uuid4().int % 10**7:07d}"


async def paged(
    crisis: RunningCrisis, bus: Bus, number: str, locale: str = "en"
) -> tuple[str, str, UUID, UUID]:
    """An open alert paging (level 1) a staff member with this phone: the alert's id, the
    page's reply code, the staff member, the site."""
    site_id, first, second = uuid4(), uuid4(), uuid4()
    await bus.publish(staff_registered(first, site_id, number, locale), source="booking")
    await bus.publish(staff_registered(second, site_id, phone()), source="booking")
    await put_policy(crisis, site_id, [([first], "PT60S"), ([second], "PT60S")], repeat=0)
    alert_id = str((await flag(crisis, site_id, uuid4()))["alert_id"])

    async def page() -> dict[str, Any] | None:
        found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return found[0] if found else None

    return alert_id, (await eventually(page, timeout=10))["reply_code"], first, site_id


async def twilio_post(
    crisis: RunningCrisis, path: str, called: str, url: str | None = None, **more: str
) -> httpx.Response:
    """Twilio's post about an outbound call to `called` (its `To`), signed for `url`."""
    params = {
        "CallSid": "CA" + uuid4().hex,  # each post a new call: a key press acts once per call
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": called,
        "Direction": "outbound-api",
        **more,
    }
    headers = signed(url or PUBLIC + path, params)
    return await crisis.http.post(path, data=params, headers={**headers, "Authorization": ""})


async def test_an_answered_call_says_the_prompt_in_the_staff_members_language(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    _, code, _, _ = await paged(crisis, bus, number, locale="fr-FR")

    answer = await twilio_post(crisis, f"{CALL}?code={code}", number, AnsweredBy="human")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert '<Gather numDigits="1"' in answer.text
    assert f'action="{PUBLIC}{CALL}/gather?code={code}"' in answer.text
    assert '<Say language="fr-FR">' in answer.text
    assert " ".join(code) in answer.text  # spelled out, character by character
    assert "Appuyez sur 1" in answer.text


async def test_key_1_acknowledges_as_the_called_staff_member_audited_as_the_call(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, first, site_id = await paged(crisis, bus, number)

    answer = await twilio_post(
        crisis, f"{CALL}/gather?code={code}", number, Digits="1", CallSid=CALL_SID
    )

    assert answer.status_code == 200, answer.text
    assert "Acknowledged. Escalation has stopped." in answer.text
    assert "<Hangup/>" in answer.text
    view = await alert(crisis, alert_id)
    assert (view["status"], view["acknowledged_by"]) == ("acknowledged", str(first))
    trail = (await crisis.http.get("/audit", params={"actor_id": CALL_SID})).json()["items"]
    [entry] = [e for e in trail if e["action"] == "twilio_call_key"]
    assert entry["actor"] == {"kind": "call", "id": CALL_SID}
    assert (entry["site_id"], entry["status"]) == (str(site_id), 200)
    acknowledged = await bus.crisis_events(site_id, "AlertAcknowledged")
    assert [e.data["staff_id"] for e in acknowledged] == [str(first)]
    assert acknowledged[0].envelope["actor"] == f"call:{CALL_SID}"

    again = await twilio_post(crisis, f"{CALL}/gather?code={code}", number, Digits="1")
    assert "already acknowledged or resolved" in again.text  # another call
    replayed = await twilio_post(
        crisis, f"{CALL}/gather?code={code}", number, Digits="1", CallSid=CALL_SID
    )
    assert "<Say" not in replayed.text  # the same call's key press again: a replay


async def test_key_2_repeats_and_no_key_or_a_machine_acknowledges_nothing(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, _, _ = await paged(crisis, bus, number)
    gather = f"{CALL}/gather?code={code}"

    repeated = await twilio_post(crisis, gather, number, Digits="2")
    assert '<Gather numDigits="1"' in repeated.text
    no_key = await twilio_post(crisis, gather, number, Digits="")
    assert "No key pressed" in no_key.text
    voicemail = await twilio_post(crisis, gather, number, Digits="1", AnsweredBy="machine_end_beep")
    assert "not acknowledged" in voicemail.text
    machine = await twilio_post(crisis, f"{CALL}?code={code}", number, AnsweredBy="machine_start")
    assert machine.status_code == 200
    assert "<Gather" not in machine.text
    assert "<Say" not in machine.text

    assert (await alert(crisis, alert_id))["status"] == "open"


async def test_a_post_not_signed_by_twilio_for_the_public_url_is_a_401(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, _, _ = await paged(crisis, bus, number)
    gather = f"{CALL}/gather?code={code}"

    inside = await twilio_post(crisis, gather, number, url="http://crisis" + gather, Digits="1")
    other_code = await twilio_post(
        crisis, gather, number, url=f"{PUBLIC}{CALL}/gather?code=000000", Digits="1"
    )
    unsigned = await crisis.http.post(
        gather, data={"To": number, "Digits": "1"}, headers={"Authorization": ""}
    )

    assert [inside.status_code, other_code.status_code, unsigned.status_code] == [401] * 3
    assert (await alert(crisis, alert_id))["status"] == "open"


async def test_a_call_cannot_acknowledge_another_alerts_page(
    crisis: RunningCrisis, bus: Bus
) -> None:
    mine, theirs = phone(), phone()
    alert_a, code_a, _, _ = await paged(crisis, bus, mine)
    alert_b, code_b, _, _ = await paged(crisis, bus, theirs)

    # The other alert's staff member called about this alert's code, and the reverse.
    wrong_phone = await twilio_post(crisis, f"{CALL}/gather?code={code_a}", theirs, Digits="1")
    wrong_code = await twilio_post(crisis, f"{CALL}/gather?code={code_b}", mine, Digits="1")

    assert "No open page matches this call" in wrong_phone.text
    assert "No open page matches this call" in wrong_code.text
    assert (await alert(crisis, alert_a))["status"] == "open"
    assert (await alert(crisis, alert_b))["status"] == "open"


async def test_the_calls_end_is_on_the_pages_timeline(crisis: RunningCrisis, bus: Bus) -> None:
    number = phone()
    alert_id, code, first, _ = await paged(crisis, bus, number)
    status = f"{CALL}/status?code={code}"

    ringing = await twilio_post(crisis, status, number, CallStatus="ringing")
    ended = await twilio_post(crisis, status, number, CallStatus="no-answer")

    assert (ringing.status_code, ended.status_code) == (204, 204)
    view = await alert(crisis, alert_id)
    [step] = [s for s in view["timeline"] if s["kind"] == "call_ended"]
    assert (step["outcome"], step["staff_id"]) == ("no_answer", str(first))
    assert view["status"] == "open"  # a call that ended is no acknowledgement


async def test_key_3_escalates_now_as_the_called_staff_members_esc_would(
    crisis: RunningCrisis, bus: Bus
) -> None:
    number = phone()
    alert_id, code, first, site_id = await paged(crisis, bus, number, locale="ko-KR")
    prompt = await twilio_post(crisis, f"{CALL}?code={code}", number, AnsweredBy="human")
    assert "3번을 눌러" in prompt.text  # the prompt offers it, in the member's language

    sid = "CA" + uuid4().hex
    answer = await twilio_post(
        crisis, f"{CALL}/gather?code={code}", number, Digits="3", CallSid=sid
    )

    assert answer.status_code == 200, answer.text
    assert "에스컬레이션되었습니다" in answer.text
    assert "<Hangup/>" in answer.text
    view = await alert(crisis, alert_id)
    assert (view["status"], view["current_level"]) == ("open", 2)
    asked = next(s for s in view["timeline"] if s["kind"] == "escalated_by_staff")
    assert asked["staff_id"] == str(first)
    trail = (await crisis.http.get("/audit", params={"actor_id": sid})).json()["items"]
    [entry] = [e for e in trail if e["action"] == "twilio_call_key"]
    assert (entry["actor"], entry["site_id"], entry["status"]) == (
        {"kind": "call", "id": sid},
        str(site_id),
        200,
    )
    # key 3 in another call: the page's level was left, nothing more is escalated
    again = await twilio_post(crisis, f"{CALL}/gather?code={code}", number, Digits="3")
    assert "이미 다음 단계로 넘어갔거나" in again.text
    assert (await alert(crisis, alert_id))["current_level"] == 2
