"""A staff key of someone booking deactivated is refused on every notify route once notify has
handled StaffDeactivated; other members' keys and admin keys work as before."""

from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.codes import StaffRole
from counseling_shared.events import StaffDeactivated, StaffRegistered
from tests.notify.integration.conftest import API_KEY, Notify, eventually
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
ADMIN = bearer(API_KEY)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, Any]:
    keys = [staff_key_entry(LEFT, SITE, STAFF[0]), staff_key_entry(STAYED, SITE, STAFF[1])]
    return {"api_keys": ",".join([API_KEY, *keys])}


async def test_a_deactivated_members_key_is_refused_and_audited_others_still_work(
    notify: Notify,
) -> None:
    for staff_id in STAFF:
        registered = StaffRegistered(
            staff_id=staff_id,
            site_id=SITE,
            name="Counselor",
            role=StaffRole.COUNSELOR,
            email=f"c-{staff_id.hex[:8]}@center.example",
            locale="en",
        )
        await notify.publish(registered, source="booking", subject=staff_id)
    path = f"/notifications?recipient_id={STAFF[0]}"
    assert (await notify.http.get(path, headers=bearer(LEFT))).status_code == 200

    left = StaffDeactivated(staff_id=STAFF[0], site_id=SITE)
    await notify.publish(left, source="booking", subject=STAFF[0])

    async def refused() -> bool:
        return (await notify.http.get(path, headers=bearer(LEFT))).status_code == 403

    await eventually(refused)
    assert_staff_deactivated(await notify.http.get(path, headers=bearer(LEFT)))
    assert (await notify.http.get(path, headers=bearer(STAYED))).status_code == 200
    assert (await notify.http.get(path, headers=ADMIN)).status_code == 200
    assert await refusals_audited(notify.http, ADMIN, STAFF[0])
