"""A site-bound key learns nothing about recipients of other sites from the preferences
routes: an unknown id and another site's recipient are both a 403, at once (no 3 s wait)."""

import time
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.events import ClientRegistered
from tests.notify.integration.conftest import API_KEY, Notify, eventually

pytestmark = pytest.mark.integration

OWN_SITE = uuid4()
SITE_KEY = "site-bound-key-for-preferences"


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    return {"api_keys": f"{API_KEY},{SITE_KEY}={OWN_SITE}"}


async def test_another_sites_key_gets_the_same_quick_403_for_unknown_and_foreign_ids(
    notify: Notify,
) -> None:
    other_site = await notify.new_site()
    foreign = uuid4()
    await notify.publish(
        ClientRegistered(
            client_id=foreign,
            site_id=other_site,
            locale="en",
            timezone="Europe/Paris",
            preferred_channel="email",
        ),
        source="booking",
        subject=foreign,
    )
    await eventually(lambda: _status(notify, foreign, f"Bearer {API_KEY}", want=200), timeout=10)
    site_key = {"Authorization": f"Bearer {SITE_KEY}"}

    started = time.monotonic()
    unknown = await notify.http.put(
        f"/recipients/{uuid4()}/preferences", json={"channel": "sms"}, headers=site_key
    )
    unknown_took = time.monotonic() - started
    other = await notify.http.put(
        f"/recipients/{foreign}/preferences", json={"channel": "sms"}, headers=site_key
    )

    assert (unknown.status_code, other.status_code) == (403, 403)
    assert unknown_took < 1.0  # KNOWN_ID_WAIT_SECONDS (3 s) not spent on it
    # A key of every site still waits for a late registration, then gets the 422.
    assert (await notify.set_preferences(uuid4(), {"channel": "sms"})).status_code == 422


async def _status(notify: Notify, recipient: Any, bearer: str, *, want: int) -> bool:
    answer = await notify.http.get(
        f"/recipients/{recipient}/preferences", headers={"Authorization": bearer}
    )
    return answer.status_code == want
