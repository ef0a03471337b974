"""A staff key of someone booking deactivated is refused on every followup route once followup
has handled StaffDeactivated (its own durable, followup-staff); other members' keys and admin
keys work as before."""

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from nats.js import JetStreamContext

from counseling_shared.events import StaffDeactivated
from tests.followup.integration.support import (
    ADMIN,
    RunningFollowup,
    eventually,
    publish_as_booking,
    register_site,
)
from tests.staff_keys import (
    assert_staff_deactivated,
    bearer,
    refusals_audited,
    staff_key_entry,
)

pytestmark = pytest.mark.integration

SITE = uuid4()
STAFF = [uuid4(), uuid4()]  # the one who leaves, the one who stays
LEFT, STAYED = "key-of-one-who-leaves", "key-of-one-who-stays"


@pytest.fixture(scope="module")
async def with_staff_keys(
    database_url: str, nats_url: str, js: JetStreamContext
) -> AsyncIterator[httpx.AsyncClient]:
    keys = [staff_key_entry(LEFT, SITE, STAFF[0]), staff_key_entry(STAYED, SITE, STAFF[1])]
    running = RunningFollowup(database_url, nats_url, api_keys=",".join(["dev-admin-key", *keys]))
    await running.start()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10.0) as client:
            yield client
    finally:
        await running.stop()


async def test_a_deactivated_members_key_is_refused_and_audited_others_still_work(
    with_staff_keys: httpx.AsyncClient, js: JetStreamContext
) -> None:
    http, path = with_staff_keys, f"/sites/{SITE}/followup-policy"
    await register_site(js, SITE)

    async def site_known() -> bool:
        return (await http.get(path, headers=bearer(LEFT))).status_code == 200

    await eventually(site_known)
    await publish_as_booking(js, StaffDeactivated(staff_id=STAFF[0], site_id=SITE), STAFF[0])

    async def refused() -> bool:
        return (await http.get(path, headers=bearer(LEFT))).status_code == 403

    await eventually(refused)
    assert_staff_deactivated(await http.get(path, headers=bearer(LEFT)))
    assert (await http.get(path, headers=bearer(STAYED))).status_code == 200
    assert (await http.get(path, headers=ADMIN)).status_code == 200
    assert await refusals_audited(http, ADMIN, STAFF[0])
