"""crisis_pages_unsent on /metrics: pages of open alerts still without a delivery or a failure
30 s after they were requested, on a clock the test moves."""

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import NotificationChannel
from counseling_shared.events import NotificationFailed, NotificationSent
from crisis.adapters.alert_views import unsent_page_count
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
)
from tests.crisis.integration.steps import alert, flag, put_policy, register_staff
from tests.crisis.integration.test_deactivated_staff import deactivate

# crisis on the module's clock, with the default 30 s limit for an unsent page
pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]


def delivery(page: dict[str, Any], staff_id: UUID, site_id: UUID) -> NotificationSent:
    return NotificationSent(
        notification_id=uuid4(),
        recipient_id=staff_id,
        site_id=site_id,
        channel=NotificationChannel.SMS,
        template="crisis_page",
        cause_event_id=uuid4(),
        attempts=1,
        page_id=UUID(page["page_id"]),
    )


async def unsent_pages(crisis: RunningCrisis) -> float:
    metrics = (await crisis.http.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("crisis_pages_unsent "))
    return float(line.split()[-1])


async def shows_unsent(crisis: RunningCrisis, expected: int) -> bool:
    return await unsent_pages(crisis) == expected


async def test_a_page_of_an_open_alert_counts_as_unsent_30_s_after_its_request_until_delivered(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    t0, site = clock.now(), uuid4()
    (on_call,) = await register_staff(bus, site, 1)
    await put_policy(crisis, site, [([on_call], "PT1H")])
    alert_of = {
        name: (await flag(crisis, site, uuid4()))["alert_id"]
        for name in ("unsent", "acknowledged", "delivered", "failed")
    }
    page_of = {name: (await alert(crisis, a))["pages"][0] for name, a in alert_of.items()}

    ack = await crisis.http.post(
        f"/alerts/{alert_of['acknowledged']}/ack", json={"staff_id": str(on_call)}
    )
    assert ack.status_code == 200, ack.text
    sent = delivery(page_of["delivered"], on_call, site)
    await bus.publish(sent, source="notify")
    failed = NotificationFailed.model_validate(
        {**delivery(page_of["failed"], on_call, site).model_dump(), "attempts": 5}
    )
    await bus.publish(failed, source="notify")

    async def recorded() -> bool:
        delivered = (await alert(crisis, alert_of["delivered"]))["pages"][0]
        gave_up = (await alert(crisis, alert_of["failed"]))["pages"][0]
        return delivered["sent_at"] is not None and gave_up["failed_at"] is not None

    await eventually(recorded)
    await eventually(lambda: shows_unsent(crisis, 0))

    # 31 s on: only the open alert's page that nobody delivered nor gave up on.
    clock.set(t0 + timedelta(seconds=31))
    await eventually(lambda: shows_unsent(crisis, 1))

    later = (await flag(crisis, site, uuid4()))["alert_id"]  # its page is requested at t0 + 31 s
    async with crisis.runtime.db().acquire() as conn:
        at_limit = await unsent_page_count(conn, t0 + timedelta(seconds=61), 30.0)
        past_limit = await unsent_page_count(conn, t0 + timedelta(seconds=61.5), 30.0)
    assert (at_limit, past_limit) == (1, 2)
    clock.set(t0 + timedelta(seconds=62))
    await eventually(lambda: shows_unsent(crisis, 2))

    # A late delivery takes the page off; so does resolving the alert.
    await bus.publish(delivery(page_of["unsent"], on_call, site), source="notify")
    await eventually(lambda: shows_unsent(crisis, 1))
    resolved = await crisis.http.post(
        f"/alerts/{later}/resolve", json={"staff_id": str(on_call), "outcome": "no_risk_found"}
    )
    assert resolved.status_code == 200, resolved.text
    await eventually(lambda: shows_unsent(crisis, 0))


async def open_exhausted(crisis: RunningCrisis) -> float:
    metrics = (await crisis.http.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("crisis_open_exhausted_alerts "))
    return float(line.split()[-1])


async def test_open_exhausted_alerts_are_counted_until_someone_acknowledges_or_resolves(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = uuid4()
    gone, present = await register_staff(bus, site, 2)
    # No fallback, and level 1's only person deactivated: the chain is exhausted at once.
    await put_policy(crisis, site, [([gone], "PT1H")], repeat=0)
    await deactivate(bus, crisis, site, gone)
    before = await open_exhausted(crisis)

    exhausted = [(await flag(crisis, site, uuid4()))["alert_id"] for _ in range(2)]
    views = [await alert(crisis, a) for a in exhausted]
    assert [(v["exhausted"], v["status"], v["pages"]) for v in views] == [(True, "open", [])] * 2

    async def counted(n: float) -> bool:
        return await open_exhausted(crisis) == n

    await eventually(lambda: counted(before + 2))
    ack = await crisis.http.post(f"/alerts/{exhausted[0]}/ack", json={"staff_id": str(present)})
    assert ack.status_code == 200, ack.text
    await eventually(lambda: counted(before + 1))
    resolved = await crisis.http.post(
        f"/alerts/{exhausted[1]}/resolve",
        json={"staff_id": str(present), "outcome": "no_risk_found"},
    )
    assert resolved.status_code == 200, resolved.text
    await eventually(lambda: counted(before))
