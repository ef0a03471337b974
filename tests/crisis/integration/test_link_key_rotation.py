"""Rotating LINK_SIGNING_KEY: with the replaced key in LINK_SIGNING_PREVIOUS_KEYS, a page link
sent before the rotation still opens the on-call page, and an SMS reply from a phone whose
digest was made with the old key still acknowledges; without it, both are refused."""

from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import (
    NEW_LINK_KEY,
    OLD_LINK_KEY,
    alert,
    crisis_with_keys,
    flag,
    put_policy,
    register_staff,
    sms_reply,
)

pytestmark = pytest.mark.integration

PHONE = "+33612345678"


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
    async with (
        crisis_with_keys(database_url, nats_url, OLD_LINK_KEY) as crisis,
        Bus.connect(nats_url) as bus,
    ):
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

    async with crisis_with_keys(database_url, nats_url, NEW_LINK_KEY) as forgotten:
        assert await open_page(forgotten, page["ack_url"]) == 403
        assert "No open page" in await sms_reply(forgotten, PHONE, f"ACK {code}")
        assert (await alert(forgotten, alert_id))["status"] == "open"

    async with crisis_with_keys(
        database_url, nats_url, NEW_LINK_KEY, previous=OLD_LINK_KEY
    ) as rotated:
        assert await open_page(rotated, page["ack_url"]) == 200
        assert "acknowledged" in await sms_reply(rotated, PHONE, f"ACK {code}")
        view = await alert(rotated, alert_id)
        assert (view["status"], view["acknowledged_by"]) == (
            "acknowledged",
            str(paged_before_rotation["staff_id"]),
        )
