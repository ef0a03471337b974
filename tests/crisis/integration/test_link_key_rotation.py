"""Rotating LINK_SIGNING_KEY: with the replaced key in LINK_SIGNING_PREVIOUS_KEYS, a page link
sent before the rotation still opens the on-call page, and an SMS reply from a phone whose
digest was made with the old key still acknowledges; without it, both are refused."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    crisis_settings,
    eventually,
    pages,
    running_crisis,
)
from tests.crisis.integration.steps import alert, flag, put_policy, register_staff

pytestmark = pytest.mark.integration

OLD_KEY = "old-link-key-" + "o" * 32
NEW_KEY = "new-link-key-" + "n" * 32
SMS_SECRET = "inbound-sms-test-secret"  # noqa: S105 - a test value
PHONE = "+33612345678"


@asynccontextmanager
async def crisis_with(
    database_url: str, nats_url: str, key: str, previous: str = ""
) -> AsyncIterator[RunningCrisis]:
    settings = crisis_settings(
        database_url,
        nats_url,
        LINK_SIGNING_KEY=key,
        LINK_SIGNING_PREVIOUS_KEYS=previous,
        INBOUND_SMS_SECRET=SMS_SECRET,
    )
    async with running_crisis(settings) as running:
        yield running


async def reply(crisis: RunningCrisis, text: str) -> str:
    answer = await crisis.http.post(
        "/inbound/sms",
        json={"from": PHONE, "text": text},
        headers={"X-Webhook-Secret": SMS_SECRET, "Authorization": ""},
    )
    assert answer.status_code == 200, answer.text
    reply_text: str = answer.json()["reply"]
    return reply_text


async def open_page(crisis: RunningCrisis, ack_url: str) -> int:
    parts = urlsplit(ack_url)
    token = parse_qs(parts.query)["token"][0]
    opened = await crisis.http.get(
        parts.path, params={"token": token}, headers={"Authorization": ""}
    )
    return opened.status_code


@pytest.fixture
async def paged_before_rotation(database_url: str, nats_url: str) -> dict[str, Any]:
    """A staff member with a phone, paged by a crisis signing with the old key."""
    site_id = uuid4()
    async with crisis_with(database_url, nats_url, OLD_KEY) as crisis, Bus.connect(nats_url) as bus:
        [staff_id] = await register_staff(bus, site_id, 1, [PHONE])
        await put_policy(crisis, site_id, [([staff_id], "PT60S")], repeat=0)
        alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

        async def paged() -> dict[str, Any] | None:
            found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
            return found[0] if found else None

        page = await eventually(paged, timeout=10)
        assert await open_page(crisis, page["ack_url"]) == 200
    return {"staff_id": staff_id, "alert_id": alert_id, "page": page}


async def test_links_and_phone_replies_made_with_the_old_key_work_only_while_it_is_listed(
    database_url: str, nats_url: str, paged_before_rotation: dict[str, Any]
) -> None:
    page, alert_id = paged_before_rotation["page"], paged_before_rotation["alert_id"]
    code = page["reply_code"]

    async with crisis_with(database_url, nats_url, NEW_KEY) as forgotten:
        assert await open_page(forgotten, page["ack_url"]) == 403
        assert "No open page" in await reply(forgotten, f"ACK {code}")
        assert (await alert(forgotten, alert_id))["status"] == "open"

    async with crisis_with(database_url, nats_url, NEW_KEY, previous=OLD_KEY) as rotated:
        assert await open_page(rotated, page["ack_url"]) == 200
        assert "acknowledged" in await reply(rotated, f"ACK {code}")
        view = await alert(rotated, alert_id)
        assert (view["status"], view["acknowledged_by"]) == (
            "acknowledged",
            str(paged_before_rotation["staff_id"]),
        )
