"""booking owns the staff aggregate: the moment a member is deactivated, their staff key is
refused on every route (a replayed Idempotency-Key too); other keys work as before."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from counseling_shared.clock import ControllableClock
from tests.booking.integration.support import ADMIN_KEY, Booking, running_booking
from tests.staff_keys import (
    assert_staff_deactivated,
    bearer,
    refusals_audited,
    staff_key_entry,
)

pytestmark = pytest.mark.integration

LEFT, STAYED = "key-of-one-who-leaves", "key-of-one-who-stays"


@pytest.fixture
async def practice(booking: Booking) -> dict[str, Any]:
    site = await booking.site()
    return {
        "site": site,
        "left": await booking.counselor(site["id"]),
        "stayed": await booking.counselor(site["id"]),
    }


@pytest.fixture
async def with_staff_keys(booking: Booking, practice: dict[str, Any]) -> AsyncIterator[Booking]:
    """A second booking replica on the same database, knowing the two members' keys."""
    site = practice["site"]["id"]
    keys = ",".join(
        [
            ADMIN_KEY,
            staff_key_entry(LEFT, site, practice["left"]["id"]),
            staff_key_entry(STAYED, site, practice["stayed"]["id"]),
        ]
    )
    clock = ControllableClock(booking.clock.now())
    async with running_booking(
        booking.database_url, booking.nats_url, clock, api_keys=keys
    ) as replica:
        yield replica


async def test_a_deactivated_members_key_is_refused_at_once_and_audited(
    booking: Booking, with_staff_keys: Booking, practice: dict[str, Any]
) -> None:
    replica, site = with_staff_keys, practice["site"]["id"]
    client = {
        "site_id": site,
        "name": "A. Client",
        "email": "a@mail.example",
        "preferred_channel": "email",
    }
    once = {**bearer(LEFT), "Idempotency-Key": "register-once"}
    registered = await replica.http.post("/clients", json=client, headers=once)
    assert registered.status_code == 201, registered.text
    assert (await replica.get(f"/sites/{site}", key=LEFT)).status_code == 200

    deactivated = await booking.post(f"/staff/{practice['left']['id']}/deactivate")
    assert deactivated.status_code == 200, deactivated.text

    assert_staff_deactivated(await replica.get(f"/sites/{site}", key=LEFT))
    assert_staff_deactivated(await replica.get(f"/clients/{registered.json()['id']}", key=LEFT))
    assert_staff_deactivated(await replica.http.post("/clients", json=client, headers=once))
    assert (await replica.get(f"/sites/{site}", key=STAYED)).status_code == 200
    assert (await replica.get(f"/sites/{site}", key=ADMIN_KEY)).status_code == 200
    assert len(await refusals_audited(replica.http, bearer(ADMIN_KEY), practice["left"]["id"])) == 3
