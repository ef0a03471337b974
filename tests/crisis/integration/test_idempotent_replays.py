"""A replayed override (contract: Retries): the same key and body answer the override again,
not the schedule it belongs to, and add nothing."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.crisis.integration.harness import Bus, RunningCrisis
from tests.crisis.integration.steps import register_staff
from tests.crisis.integration.test_schedules import post_schedule, register_site, weekly_layer

pytestmark = pytest.mark.integration


async def test_a_replayed_override_answers_the_override_and_adds_none(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site = await register_site(bus)
    a, b, c = await register_staff(bus, site, 3)
    schedule_id = (await post_schedule(crisis, site, [weekly_layer(a, b)]))["schedule_id"]
    path, key = f"/schedules/{schedule_id}/overrides", {"Idempotency-Key": str(uuid4())}
    body = {
        "staff_id": str(c),
        "replaces": str(a),
        "start": "2026-03-03T00:00:00Z",
        "end": "2026-03-04T00:00:00Z",
    }

    first = await crisis.http.post(path, json=body, headers=key)
    again = await crisis.http.post(path, json=body, headers=key)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    schedule = (await crisis.http.get(f"/schedules/{schedule_id}")).json()
    assert len(schedule["overrides"]) == 1
    hidden = await crisis.http.get(f"/replayed{path}/{first.json()['override_id']}")
    assert hidden.status_code == 404
