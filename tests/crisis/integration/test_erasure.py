"""Erasing a client in crisis: refused while their alert is unresolved, then everything goes."""

from uuid import UUID, uuid4

import pytest

from crisis.application.erasure import ActiveAlert, erase_client
from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.steps import flag, put_policy, register_staff

pytestmark = pytest.mark.integration


async def test_a_client_in_an_open_crisis_is_not_erased_and_a_resolved_one_is(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    [staff] = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([staff], "PT30S")])
    alert_id = UUID((await flag(crisis, site, client))["alert_id"])

    async with crisis.runtime.db().acquire() as conn:
        with pytest.raises(ActiveAlert):
            await erase_client(conn, client)
        assert await conn.fetchval("SELECT count(*) FROM alerts WHERE id = $1", alert_id) == 1

    resolved = await crisis.http.post(
        f"/alerts/{alert_id}/resolve", json={"staff_id": str(staff), "outcome": "no_risk_found"}
    )
    assert resolved.status_code == 200, resolved.text
    async with crisis.runtime.db().acquire() as conn:
        changed = await erase_client(conn, client)
        left = await conn.fetchval(
            """SELECT (SELECT count(*) FROM alerts WHERE client_id = $1)
                    + (SELECT count(*) FROM risk_flags WHERE client_id = $1)
                    + (SELECT count(*) FROM events WHERE stream_id = $2)""",
            client,
            f"alert-{alert_id}",
        )

    assert changed["alerts"] == 1
    assert changed["risk_flags"] == 1
    assert left == 0
