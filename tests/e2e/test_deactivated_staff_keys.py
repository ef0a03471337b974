"""booking deactivates a staff member: their staff key is refused by booking at once and by
followup, notify and crisis as soon as StaffDeactivated reaches them (over the secured bus,
each service as its own NATS user); another member's key and an admin key still work."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.center import created, unique_email
from tests.e2e.harness import API_KEY, Suite, eventually
from tests.staff_keys import assert_staff_deactivated, bearer, staff_key_entry

pytestmark = pytest.mark.e2e

LEFT, STAYED = "key-of-one-who-leaves", "key-of-one-who-stays"


def readable(site_id: str) -> dict[str, str]:
    """A route of each service a staff key of the site could use before."""
    return {
        "booking": f"/sites/{site_id}",
        "followup": f"/sites/{site_id}/followup-policy",
        "notify": "/notifications",
        "crisis": "/alerts",
    }


async def status(suite: Suite, service: str, path: str, key: str) -> int:
    async with httpx.AsyncClient(base_url=suite.url(service), timeout=15) as client:
        return (await client.get(path, headers=bearer(key))).status_code


async def test_each_service_refuses_the_key_of_a_member_booking_deactivated(
    suite: Suite,
) -> None:
    async with suite.client("booking") as booking:
        site = created(await booking.post("/sites", json={"name": "A", "timezone": "UTC"}))
        members = [
            created(
                await booking.post(
                    "/staff",
                    json={
                        "site_id": site["id"],
                        "name": "Counselor",
                        "role": "counselor",
                        "email": unique_email("counselor"),
                    },
                )
            )
            for _ in range(2)
        ]
    left, stayed = (m["id"] for m in members)
    keys = [staff_key_entry(LEFT, site["id"], left), staff_key_entry(STAYED, site["id"], stayed)]
    await suite.restart_with_keys(",".join([API_KEY, *keys]))
    routes = readable(site["id"])
    for service, path in routes.items():

        async def usable(service: str = service, path: str = path) -> bool:
            return await status(suite, service, path, LEFT) == 200

        await eventually(usable, timeout=20)

    async with suite.client("booking") as booking:
        answer = await booking.post(f"/staff/{left}/deactivate")
        assert answer.status_code == 200, answer.text
        assert_staff_deactivated(await booking.get(routes["booking"], headers=bearer(LEFT)))

    for service, path in routes.items():

        async def refused(service: str = service, path: str = path) -> bool:
            return await status(suite, service, path, LEFT) == 403

        await eventually(refused, timeout=20)
        async with httpx.AsyncClient(base_url=suite.url(service), timeout=15) as client:
            assert_staff_deactivated(await client.get(path, headers=bearer(LEFT)))
        assert await status(suite, service, path, STAYED) == 200, service
        assert await status(suite, service, path, API_KEY) == 200, service
