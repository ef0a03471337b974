"""risk flag → page by SMS and email to level 1 at once → level 2 after the timeout →
ack stops paging → resolve; a high-risk session completion opens an alert."""

import asyncio
import time
from typing import Any

import pytest

from tests.e2e.center import Center, created, emails_to, listed, notify_knows, texts_to
from tests.e2e.harness import Suite, eventually

pytestmark = pytest.mark.e2e


async def test_risk_flag_pages_escalates_and_stops_on_ack(suite: Suite) -> None:
    center = await Center.open(suite, timezone="Europe/Paris", locale="fr")
    first, second = await center.register_staff(), await center.register_staff()
    client = await center.register_client(preferred_channel="email")
    async with suite.client("crisis") as crisis:
        created(
            await crisis.put(
                f"/sites/{center.site_id}/escalation-policy",
                json={
                    "levels": [
                        {"staff_ids": [first["id"]], "ack_timeout": "PT8S"},
                        {"staff_ids": [second["id"]], "ack_timeout": "PT3S"},
                    ],
                    "repeat": 0,
                },
            )
        )
        await notify_knows(suite, first, second)

        flagged_at = time.monotonic()
        accepted = await crisis.post(
            "/risk-flags",
            json={
                "client_id": client["id"],
                "site_id": center.site_id,
                "level": "high",
                "source": "integration",
            },
        )
        assert accepted.status_code == 202, accepted.text
        alert_id = accepted.json()["alert_id"]

        sms = await eventually(
            lambda: texts_to(suite.sinks, first["phone"]), timeout=8, interval=0.02
        )
        sms_latency = time.monotonic() - flagged_at
        mail = await eventually(lambda: emails_to(suite.sinks, first["email"]), 8, 0.02)
        mail_latency = time.monotonic() - flagged_at
        # At once: well inside level 1's 8 s deadline, with room for a loaded 2-core machine.
        assert sms_latency < 4.0, f"SMS page took {sms_latency:.3f}s"
        assert mail_latency < 4.0, f"email page took {mail_latency:.3f}s"
        for text in (sms[0].body, mail[0].body):
            assert alert_id in text
            assert "Client Park" not in text
        assert not texts_to(suite.sinks, second["phone"])

        await eventually(lambda: texts_to(suite.sinks, second["phone"]), timeout=20)
        alert = created(await crisis.get(f"/alerts/{alert_id}"))
        assert alert["current_level"] == 2
        assert {p["staff_id"] for p in alert["pages"]} >= {first["id"], second["id"]}

        acked = created(
            await crisis.post(f"/alerts/{alert_id}/ack", json={"staff_id": second["id"]})
        )
        assert acked["status"] == "acknowledged"
        pages_at_ack = len(texts_to(suite.sinks, first["phone"])) + len(
            texts_to(suite.sinks, second["phone"])
        )
        await asyncio.sleep(4)  # longer than an ack_timeout: nothing more may be paged
        assert (
            len(texts_to(suite.sinks, first["phone"])) + len(texts_to(suite.sinks, second["phone"]))
            == pages_at_ack
        )

        resolved = created(
            await crisis.post(
                f"/alerts/{alert_id}/resolve",
                json={"staff_id": second["id"], "outcome": "safety_plan"},
            )
        )
        assert resolved["status"] == "resolved"
        alert = created(await crisis.get(f"/alerts/{alert_id}"))
        assert all(p.get("sent_at") for p in alert["pages"])
        assert len(alert["timeline"]) >= 6


async def test_high_risk_session_completion_opens_an_alert(suite: Suite) -> None:
    center = await Center.open(suite)
    on_call = await center.register_staff()
    async with suite.client("crisis") as crisis:
        created(
            await crisis.put(
                f"/sites/{center.site_id}/escalation-policy",
                json={"levels": [{"staff_ids": [on_call["id"]], "ack_timeout": "PT60S"}]},
            )
        )
    client = await center.register_client(preferred_channel="email")
    await center.hold_session(client["id"], risk_level="high")

    async def open_alert() -> list[dict[str, Any]]:
        async with suite.client("crisis") as crisis:
            alerts = listed(
                await crisis.get("/alerts", params={"site_id": center.site_id, "status": "open"})
            )
        return [a for a in alerts if a["client_id"] == client["id"]]

    alerts = await eventually(open_alert, timeout=10)
    assert alerts[0]["level"] == "high"
    await eventually(lambda: texts_to(suite.sinks, on_call["phone"]), timeout=10)
