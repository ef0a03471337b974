"""Outside development, `POST /webhooks` refuses receivers at private, loopback or link-local
addresses (server-side request forgery), with a 422 naming `url`."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from tests.notify.integration.conftest import Notify

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"webhook_allow_private_urls": False}  # as in production


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.0.0.5/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://localhost/hooks",
    ],
    ids=["loopback", "private", "cloud-metadata", "ipv6-loopback", "localhost"],
)
async def test_a_receiver_at_a_private_address_is_refused(notify: Notify, url: str) -> None:
    site_id = uuid4()
    response = await notify.http.post(
        "/webhooks",
        json={"site_id": str(site_id), "url": url, "event_types": ["SessionCompleted"]},
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == "url"
    listed = await notify.http.get("/webhooks", params={"site_id": str(site_id)})
    assert listed.json() == []


async def test_a_receiver_at_a_public_address_is_accepted(notify: Notify) -> None:
    response = await notify.http.post(
        "/webhooks",
        json={
            "site_id": str(uuid4()),
            "url": "https://93.184.216.34/hooks",
            "event_types": ["SessionCompleted"],
        },
    )

    assert response.status_code == 201, response.text


async def test_a_change_of_url_to_a_private_address_is_refused(notify: Notify) -> None:
    created = await notify.http.post(
        "/webhooks",
        json={
            "site_id": str(uuid4()),
            "url": "https://93.184.216.34/hooks",
            "event_types": ["SessionCompleted"],
        },
    )
    webhook = f"/webhooks/{created.json()['id']}"

    response = await notify.http.patch(webhook, json={"url": "http://169.254.169.254/latest"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == "url"
    assert (await notify.http.get(webhook)).json()["url"] == "https://93.184.216.34/hooks"
