"""Clients' texts back to notify (`POST /inbound/sms`): STOP stops SMS and messaging to that
number (the message goes by the client's next channel, the attempt says `sms_opted_out`),
START lifts it, HELP answers; nothing of the text nor the number is kept but the number's
keyed digest."""

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client import REGISTRY

from counseling_shared.codes import Channel
from counseling_shared.events import PageRequested, StaffSmsOptOutChanged
from notify.adapters import opt_outs
from notify.entrypoints import opt_out_gauges
from tests.notify.integration.conftest import Notify, eventually, followup_due

pytestmark = pytest.mark.integration

SECRET = "inbound-sms-test-secret"  # noqa: S105 (a test credential)
HELP_TEXT = "Riverside Center: call +33 1 23 45 67 89. Reply STOP to stop texts."


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"inbound_sms_secret": SECRET, "sms_help_text": HELP_TEXT}


@pytest.fixture
def phone() -> str:
    return f"+3365{uuid4().int % 10**7:07d}"


async def text(
    notify: Notify, sender: str, body: str, secret: str | bytes = SECRET
) -> httpx.Response:
    return await notify.http.post(
        "/inbound/sms",
        json={"from": sender, "text": body, "message_sid": "SM123"},  # extra fields ignored
        headers={
            b"X-Webhook-Secret": secret if isinstance(secret, bytes) else secret.encode(),
            b"Authorization": b"",  # no API key: the secret alone
        },
    )


async def settled(notify: Notify, recipient_id: UUID, **match: Any) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        rows = await notify.notifications(recipient_id=recipient_id)
        return [r for r in rows if r["status"] != "pending" and match.items() <= r.items()]

    found = await eventually(probe, timeout=15.0)
    return await notify.notification(found[0]["id"])


async def message_to(notify: Notify, phone: str, email: str | None) -> dict[str, Any]:
    site_id = await notify.new_site()
    client_id = uuid4()
    notify.directory.add(client_id, phone=phone, email=email, preferred_channel=Channel.SMS)
    await notify.publish(followup_due(client_id, site_id), source="followup", subject=client_id)
    return await settled(notify, client_id)


def attempts(detail: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(a["channel"], a["outcome"], a["error_code"]) for a in detail["attempt_log"]]


async def test_after_stop_a_clients_message_goes_by_email_and_says_why(
    notify: Notify, phone: str
) -> None:
    # The provider may write the number otherwise than booking does: the same number.
    written = "00" + phone[1:3] + " " + phone[3:6] + " " + phone[6:]
    answer = await text(notify, written, "  Stop. ")
    assert answer.status_code == 200, answer.text
    assert answer.json()["keyword"] == "stop"
    assert "START" in answer.json()["reply"]

    detail = await message_to(notify, phone, "optedout@example.org")

    assert attempts(detail) == [
        ("sms", "permanent_failure", "sms_opted_out"),
        ("email", "sent", None),
    ]
    assert (detail["status"], detail["channel"]) == ("sent", "email")
    assert [r for r in notify.sinks.http.requests() if r.to == phone] == []
    metrics = (await notify.http.get("/metrics")).text
    assert 'notify_opted_out_skips_total{channel="sms"} 0.0' not in metrics


async def test_with_no_other_channel_the_message_fails_with_the_reason(
    notify: Notify, phone: str
) -> None:
    assert (await text(notify, phone, "UNSUBSCRIBE")).json()["keyword"] == "stop"

    detail = await message_to(notify, phone, None)

    assert (detail["status"], detail["last_error"]) == ("failed", "sms_opted_out")
    assert [r for r in notify.sinks.http.requests() if r.to == phone] == []


async def test_start_lifts_it(notify: Notify, phone: str) -> None:
    await text(notify, phone, "STOPALL")
    answer = await text(notify, phone, "unstop")
    assert answer.json()["keyword"] == "start"

    detail = await message_to(notify, phone, "back@example.org")

    assert attempts(detail) == [("sms", "sent", None)]
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1


async def test_a_staff_phone_that_opted_out_gets_its_page_by_email_at_once(
    notify: Notify, phone: str
) -> None:
    await text(notify, phone, "СТОП")
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone=phone)
    page = PageRequested(
        alert_id=uuid4(), page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
    )

    await notify.publish(page, source="crisis", subject=page.alert_id)

    sms = await settled(notify, staff_id, channel="sms")
    email = await settled(notify, staff_id, channel="email")
    assert (sms["status"], sms["last_error"], sms["attempts"]) == ("failed", "sms_opted_out", 1)
    assert email["status"] == "sent"


@pytest.mark.parametrize(
    ("body", "keyword", "says"),
    [
        ("ARRÊT", "stop", "DEMARRER"),  # French keyword, French answer
        ("중지", "stop", "시작"),
        ("help", "help", HELP_TEXT),  # the center's own help text
        ("Aide", "help", HELP_TEXT),
        ("I'll be 10 minutes late, sorry", None, "not read"),
    ],
)
async def test_each_text_gets_an_answer_in_its_language(
    notify: Notify, phone: str, body: str, keyword: str | None, says: str
) -> None:
    answer = await text(notify, phone, body)

    assert answer.status_code == 200
    assert answer.json()["keyword"] == keyword
    assert says in answer.json()["reply"]


async def test_free_text_and_numbers_are_not_kept_and_each_use_is_audited(
    notify: Notify, phone: str
) -> None:
    before = await notify.pool.fetchval("SELECT count(*) FROM sms_opt_outs")
    await text(notify, phone, "please call me back about thursday")
    await text(notify, phone, "STOP")

    rows = await notify.pool.fetch("SELECT * FROM sms_opt_outs")
    assert len(rows) == before + 1
    dump = repr([dict(r) for r in rows])
    assert phone[1:] not in dump  # only a keyed digest
    trail = await notify.pool.fetch(
        "SELECT * FROM audit WHERE actor_id = 'inbound-sms' AND resource_id IS NULL"
    )
    assert len(trail) >= 2
    assert {r["action"] for r in trail} == {"inbound_sms"}
    assert phone[1:] not in repr([dict(r) for r in trail])


@pytest.mark.parametrize("secret", ["", "wrong", "ключ".encode()])  # not ASCII: a 401, no 500
async def test_a_missing_or_wrong_secret_is_refused_and_changes_nothing(
    notify: Notify, phone: str, secret: str | bytes
) -> None:
    answer = await text(notify, phone, "STOP", secret=secret)

    assert answer.status_code == 401
    assert not await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)


async def test_an_opt_out_survives_a_link_key_rotation(notify: Notify, phone: str) -> None:
    now = notify.clock.now()
    await opt_outs.opt_out(notify.pool, ["old-key"], phone, "stop", now)

    # Rotated: the old key is a previous one; the opt-out is found and digested again.
    assert await opt_outs.is_opted_out(notify.pool, ["new-key", "old-key"], phone)
    # The old key dropped: still found, under the new key.
    assert await opt_outs.is_opted_out(notify.pool, ["new-key"], phone)
    assert await opt_outs.opt_in(notify.pool, ["new-key"], phone)
    assert not await opt_outs.is_opted_out(notify.pool, ["new-key", "old-key"], phone)


def opt_out_gauge(state: str) -> float:
    value = REGISTRY.get_sample_value("notify_sms_opt_outs", {"key": state})
    assert value is not None
    return value


async def test_the_gauge_shows_the_opt_outs_that_dropping_an_old_key_would_forget(
    notify: Notify, phone: str
) -> None:
    new, old = f"gauge-new-{uuid4()}", f"gauge-old-{uuid4()}"  # keys no other test uses
    await opt_outs.opt_out(notify.pool, [old], phone, "stop", notify.clock.now())

    await opt_out_gauges.refresh_once(notify.pool, [new, old])
    assert (opt_out_gauge("current"), opt_out_gauge("previous")) == (0, 1)
    # Dropping the old key now would forget it: it counts as unknown.
    await opt_out_gauges.refresh_once(notify.pool, [new])
    assert (opt_out_gauge("current"), opt_out_gauge("previous")) == (0, 0)
    assert opt_out_gauge("unknown") >= 1

    # Met again (texted to, or texting) while the old key is listed: it moves to the new key.
    assert await opt_outs.is_opted_out(notify.pool, [new, old], phone)
    await opt_out_gauges.refresh_once(notify.pool, [new, old])
    assert (opt_out_gauge("current"), opt_out_gauge("previous")) == (1, 0)


async def test_a_staff_stop_to_the_paging_number_stops_their_sms_pages_and_start_resumes(
    notify: Notify, phone: str
) -> None:
    site_id = await notify.new_site()
    staff_id = await notify.new_staff(site_id, phone=phone)

    async def page_sms() -> dict[str, Any]:
        page = PageRequested(
            alert_id=uuid4(), page_id=uuid4(), staff_id=staff_id, site_id=site_id, level=1
        )
        await notify.publish(page, source="crisis", subject=page.alert_id)
        return await settled(notify, staff_id, channel="sms", page_id=str(page.page_id))

    stop = StaffSmsOptOutChanged(staff_id=staff_id, site_id=site_id, opted_out=True)
    await notify.publish(stop, source="crisis", subject=staff_id)
    await eventually(lambda: opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone))
    assert (await page_sms())["last_error"] == "sms_opted_out"

    start = StaffSmsOptOutChanged(staff_id=staff_id, site_id=site_id, opted_out=False)
    await notify.publish(start, source="crisis", subject=staff_id)

    async def lifted() -> bool:
        return not await opt_outs.is_opted_out(notify.pool, notify.settings.link_keys, phone)

    await eventually(lifted)
    assert (await page_sms())["status"] == "sent"
    assert len([r for r in notify.sinks.http.sms if r.to == phone]) == 1
