"""A staff key of someone booking deactivated is refused on every crisis route once crisis has
handled StaffDeactivated; other members' keys and admin keys work as before."""

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffDeactivated, StaffRegistered
from tests.crisis.integration.harness import (
    API_KEY,
    Bus,
    RunningCrisis,
    StartCrisis,
    eventually,
)
from tests.crisis.integration.steps import put_policy
from tests.staff_keys import (
    assert_staff_deactivated,
    bearer,
    refusals_audited,
    staff_key_entry,
)

pytestmark = pytest.mark.integration

SITE = uuid4()
LEFT, STAYED = "key-of-one-who-leaves", "key-of-one-who-stays"
ADMIN = bearer(API_KEY)


STAFF = [uuid4(), uuid4()]  # the one who leaves, the one who stays


@pytest.fixture(scope="module")
async def crisis_with_keys(start_crisis: StartCrisis) -> AsyncIterator[RunningCrisis]:
    keys = ",".join(
        [API_KEY, staff_key_entry(LEFT, SITE, STAFF[0]), staff_key_entry(STAYED, SITE, STAFF[1])]
    )
    async with start_crisis(API_KEYS=keys) as running:
        yield running


async def test_a_deactivated_members_key_is_refused_and_audited_others_still_work(
    crisis_with_keys: RunningCrisis, bus: Bus
) -> None:
    crisis, policy_path, staff = crisis_with_keys, f"/sites/{SITE}/escalation-policy", STAFF
    for staff_id in staff:
        registered = StaffRegistered(
            staff_id=staff_id,
            site_id=SITE,
            name="Counselor",
            role=StaffRole.CRISIS_LINE,
            email=f"c-{staff_id.hex[:8]}@center.example",
            locale="en",
        )
        await bus.publish(registered, source="booking")
    await put_policy(crisis, SITE, [(staff, "PT30S")])
    before = await crisis.http.get(policy_path, headers=bearer(LEFT))
    assert before.status_code == 200, before.text

    await bus.publish(StaffDeactivated(staff_id=staff[0], site_id=SITE), source="booking")

    async def refused() -> bool:
        answer = await crisis.http.get(policy_path, headers=bearer(LEFT))
        return answer.status_code == 403

    await eventually(refused, timeout=10)
    assert_staff_deactivated(await crisis.http.get(policy_path, headers=bearer(LEFT)))
    assert_staff_deactivated(
        await crisis.http.post(
            "/alerts/00000000-0000-0000-0000-000000000000/ack", json={}, headers=bearer(LEFT)
        )
    )
    assert (await crisis.http.get(policy_path, headers=bearer(STAYED))).status_code == 200
    assert (await crisis.http.get(policy_path, headers=ADMIN)).status_code == 200
    assert await refusals_audited(crisis.http, ADMIN, staff[0])
