"""One SMS number for clients and on-call staff, pointed at notify: the whole suite on the
authenticated bus. A staff member's `ACK <code>` posted to notify's `POST /inbound/sms` goes to
crisis over `crisis.staff_replies` (notify's user may ask, crisis's answers) and acknowledges
the alert; a client's STOP to the same number stops their texts and is no staff matter; a
staff member's STOP to it shows in the escalation policy (`sms_stopped_staff_ids`)."""

from typing import Any

import pytest

from tests.e2e.center import (
    Center,
    created,
    listed,
    notifications,
    notify_knows,
    page_and_code,
    texts_to,
    unique_phone,
)
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e

SMS_SECRET = "e2e-shared-number-secret"  # noqa: S105 (a test credential)
SUITE_EXTRA_ENV = {"INBOUND_SMS_SECRET": SMS_SECRET}


async def text_the_number(
    suite: Suite, phone: str, text: str, message_id: str | None = None
) -> dict[str, Any]:
    """A text to the center's one number, as its provider posts it to notify."""
    provider = {"message_id": message_id} if message_id else {}
    async with suite.client("notify") as notify:
        answer = await notify.post(
            "/inbound/sms",
            json={"from": phone, "text": text, **provider},
            headers={"X-Webhook-Secret": SMS_SECRET, "Authorization": ""},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _policy(suite: Suite, site_id: str) -> dict[str, Any]:
    async with suite.client("crisis") as crisis:
        return created(await crisis.get(f"/sites/{site_id}/escalation-policy"))


async def test_a_staff_members_ack_to_notifys_number_acknowledges_the_alert(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    member, backup = await center.register_staff(), await center.register_staff()
    await notify_knows(suite, member, backup)
    code = await page_and_code(suite, center, [[member["id"]], [backup["id"]]], member["phone"])

    answer = await text_the_number(suite, member["phone"], f"ack {code.lower()}")

    assert answer["staff_reply"] == {"command": "ack", "outcome": "answered"}
    assert "acknowledged. Escalation has stopped." in answer["reply"]
    async with suite.client("crisis") as crisis:
        [opened] = listed(await crisis.get("/alerts", params={"site_id": center.site_id}))
        alert = created(await crisis.get(f"/alerts/{opened['id']}"))
    assert alert["status"] == "acknowledged"
    assert alert["acknowledged_by"] == member["id"]
    # The same ACK again is crisis's answer too, not notify's "replies are not read".
    again = await text_the_number(suite, member["phone"], f"ACK {code}")
    assert "was already acknowledged" in again["reply"]


async def test_a_staff_members_res_to_notifys_number_resolves_the_alert_once(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    member, backup = await center.register_staff(), await center.register_staff()
    await notify_knows(suite, member, backup)
    code = await page_and_code(suite, center, [[member["id"]], [backup["id"]]], member["phone"])

    choices = await text_the_number(suite, member["phone"], f"RES {code}")
    resolved = await text_the_number(suite, member["phone"], f"res {code} 5", "sms-res-1")
    replayed = await text_the_number(suite, member["phone"], f"RES {code} 1", "sms-res-1")

    assert choices["staff_reply"] == {"command": "resolve", "outcome": "answered"}
    assert "1 safety plan" in choices["reply"]
    assert "5 no risk found" in choices["reply"]
    assert resolved["reply"].endswith("resolved: No risk found.")
    assert (replayed["reply"], replayed["replayed"]) == ("", True)
    async with suite.client("crisis") as crisis:
        [opened] = listed(await crisis.get("/alerts", params={"site_id": center.site_id}))
        alert = created(await crisis.get(f"/alerts/{opened['id']}"))
    assert (alert["status"], alert["outcome"], alert["resolved_by"]) == (
        "resolved",
        "no_risk_found",
        member["id"],
    )


async def test_a_clients_stop_stops_their_texts_and_a_staff_stop_shows_in_the_policy(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="en")
    member, backup = await center.register_staff(), await center.register_staff()
    await notify_knows(suite, member, backup)
    async with suite.client("crisis") as crisis:
        body = {"levels": [{"staff_ids": [member["id"], backup["id"]], "ack_timeout": "PT60S"}]}

        async def policy_set() -> bool:
            answer = await crisis.put(f"/sites/{center.site_id}/escalation-policy", json=body)
            return answer.status_code == 200

        await eventually(policy_set, timeout=20)
    client = await center.register_client(preferred_channel="sms", phone=unique_phone())

    stopped = await text_the_number(suite, client["phone"], "STOP")

    assert (stopped["keyword"], stopped["staff_reply"]) == ("stop", None)
    assert stopped["reply"].startswith("You will get no more texts from this number.")
    await center.book_soon(client["id"], in_seconds=3600)
    [booked] = await eventually(
        lambda: notifications(suite, client["id"], "appointment_booked"), timeout=20
    )

    async def settled() -> dict[str, Any] | None:
        async with suite.client("notify") as notify:
            row = created(await notify.get(f"/notifications/{booked['id']}"))
        return row if row["status"] != "pending" else None

    row = await eventually(settled, timeout=20)
    assert row["channel"] == "email"  # fell back: the number texted STOP
    assert texts_to(suite.sinks, client["phone"]) == []
    assert (await _policy(suite, center.site_id))["sms_stopped_staff_ids"] == []

    staff_stop = await text_the_number(suite, member["phone"], "STOP")

    assert staff_stop["staff_reply"] == {"command": "stop", "outcome": "answered"}
    assert staff_stop["reply"].startswith("SMS pages to this phone are stopped")
    policy = await _policy(suite, center.site_id)
    assert policy["sms_stopped_staff_ids"] == [member["id"]]
    assert any("STOP" in w or "SMS" in w for w in policy["warnings"]), policy["warnings"]
