"""risk flag → page by SMS and email to level 1 at once → level 2 after the timeout →
ack stops paging → resolve; a high-risk session completion opens an alert; in a real browser,
the texted link acknowledges once (then 409), and expired (410) or altered (403) links fail."""

import asyncio
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page

from counseling_shared.links import DEV_LINK_SIGNING_KEY, LinkSigner
from crisis.application.publishing import PAGE_LINK_PURPOSE
from tests.browser import chromium, needs_chromium
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


ACK_URL = re.compile(r"https?://\S+/pages/[0-9a-f-]{36}\?token=\S+")
SCREENSHOTS = os.environ.get("ONCALL_PAGE_SCREENSHOTS")  # a folder: save the README's images


@needs_chromium
async def test_in_a_browser_the_texted_link_acknowledges_stops_escalation_and_is_single_use(
    suite: Suite,
) -> None:
    center = await Center.open(suite, timezone="Europe/Paris")
    first = await center.register_staff(name="Alex Martin")
    second = await center.register_staff(name="Bea Kim")
    client = await center.register_client(preferred_channel="email")
    async with chromium() as browser, suite.client("crisis") as crisis:
        created(
            await crisis.put(
                f"/sites/{center.site_id}/escalation-policy",
                json={
                    "levels": [
                        {"staff_ids": [first["id"]], "ack_timeout": "PT8S"},
                        {"staff_ids": [second["id"]], "ack_timeout": "PT60S"},
                    ],
                    "repeat": 0,
                },
            )
        )
        await notify_knows(suite, first, second)
        flagged = created(
            await crisis.post(
                "/risk-flags",
                json={
                    "client_id": client["id"],
                    "site_id": center.site_id,
                    "level": "high",
                    "source": "integration",
                },
            )
        )
        alert_id = flagged["alert_id"]
        sms = await eventually(lambda: texts_to(suite.sinks, first["phone"]), timeout=8)
        assert "Client Park" not in sms[0].body  # no client detail in the message
        found = ACK_URL.search(sms[0].body)
        assert found, sms[0].body
        ack_url = found.group(0)

        # JavaScript off: the page must work as plain HTML forms.
        phone = await browser.new_context(
            viewport={"width": 360, "height": 780}, java_script_enabled=False
        )
        page, stale = await phone.new_page(), await phone.new_page()
        opened = await page.goto(ack_url)
        assert opened is not None
        assert opened.status == 200
        await stale.goto(ack_url)  # a second tab, left open from before the acknowledgement
        acknowledge = page.get_by_role("button", name="Acknowledge")
        await acknowledge.wait_for()
        assert await page.get_by_role("button", name="Resolve").is_visible()
        status = page.locator("dd.status-open")
        assert await status.inner_text() == "Open"
        assert alert_id[:8] in await page.title()
        assert "Alex Martin (you)" in await page.locator("#pages-h + ul").inner_text()
        # Readable at 360 px: nothing wider than the screen.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        if SCREENSHOTS:
            await _screenshots(browser, ack_url, Path(SCREENSHOTS), page)

        before_ack = created(await crisis.get(f"/alerts/{alert_id}"))
        deadline = datetime.fromisoformat(before_ack["escalation_due_at"])
        async with page.expect_navigation() as navigation:
            await acknowledge.click()
        answer = await navigation.value
        assert answer is not None
        assert answer.status == 200
        assert "escalation has stopped" in await page.inner_text("body")
        alert = created(await crisis.get(f"/alerts/{alert_id}"))
        assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", first["id"])

        assert alert["escalation_due_at"] is None
        # Escalation stopped: past the deadline pending at the click (level 1's, unless a
        # loaded machine was slower than its 8 s), nobody more was paged.
        paged_at_ack = len(alert["pages"])
        wait = min((deadline - datetime.now(UTC)).total_seconds(), 9.0)
        await asyncio.sleep(max(0.0, wait) + 1.5)
        after = created(await crisis.get(f"/alerts/{alert_id}"))
        assert len(after["pages"]) == paged_at_ack
        assert after["current_level"] == alert["current_level"]
        if alert["current_level"] == 1:  # acknowledged in time: level 2 never paged
            assert not texts_to(suite.sinks, second["phone"])

        # The link again (the stale tab): 409, saying it was their own acknowledgement, when.
        async with stale.expect_navigation() as navigation:
            await stale.get_by_role("button", name="Acknowledge").click()
        reused = await navigation.value
        assert reused is not None
        assert reused.status == 409
        assert "You acknowledged this at" in await stale.inner_text("[role=status]")
        assert "Alex Martin (you)" in await stale.inner_text("body")

        page_id = urlsplit(ack_url).path.rsplit("/", 1)[-1]
        token = parse_qs(urlsplit(ack_url).query)["token"][0]
        expired = LinkSigner(DEV_LINK_SIGNING_KEY).sign(
            PAGE_LINK_PURPOSE,
            page_id,
            person=first["id"],
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        base = ack_url.split("?")[0]
        gone = await page.goto(f"{base}?token={expired}")
        assert gone is not None
        assert gone.status == 410
        assert "expired" in (await page.inner_text("h1")).lower()
        altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        refused = await page.goto(f"{base}?token={altered}")
        assert refused is not None
        assert refused.status == 403
        await phone.close()


async def _screenshots(browser: Browser, ack_url: str, folder: Path, phone_page: Page) -> None:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await phone_page.screenshot(path=folder / "oncall-page-360.png", full_page=True)
    desktop = await browser.new_context(viewport={"width": 1280, "height": 900})
    wide = await desktop.new_page()
    await wide.goto(ack_url)
    await wide.screenshot(path=folder / "oncall-page-1280.png", full_page=True)
    await desktop.close()
