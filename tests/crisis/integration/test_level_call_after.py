"""A policy level's `call_after` (extension): stored and shown with the policy, checked (PT0S
up to the level's `ack_timeout`, else a 422 naming the field), flagged in the warnings when
the call would wait out the whole `ack_timeout`, and carried by each page of that level as
`PageRequested.call_after` (absent on a level without one: notify's PAGE_CALL_DELAY)."""

from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.clock import ControllableClock
from tests.crisis.integration.harness import (
    Bus,
    RunningCrisis,
    eventually,
    pages,
)
from tests.crisis.integration.steps import flag, register_staff

pytestmark = [pytest.mark.integration, pytest.mark.crisis_on_clock]


def level(staff: UUID, ack_timeout: str, call_after: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"staff_ids": [str(staff)], "ack_timeout": ack_timeout}
    if call_after is not None:
        body["call_after"] = call_after
    return body


async def put_levels(crisis: RunningCrisis, site_id: UUID, levels: list[dict[str, Any]]) -> Any:
    """PUT the policy once crisis has seen the staff (a 422 naming `staff_ids` until then)."""

    async def answered() -> Any:
        answer = await crisis.http.put(
            f"/sites/{site_id}/escalation-policy", json={"levels": levels, "repeat": 0}
        )
        unknown = answer.status_code == 422 and "staff_ids" in answer.text
        return None if unknown else answer

    return await eventually(answered, timeout=10)


async def test_a_levels_call_after_is_kept_checked_and_warned_about(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site_id = uuid4()
    first, second = await register_staff(bus, site_id, 2)

    too_late = await put_levels(crisis, site_id, [level(first, "PT5M", "PT5M1S")])
    assert too_late.status_code == 422, too_late.text
    assert [e["field"] for e in too_late.json()["errors"]] == ["levels.0.call_after"]
    not_a_duration = await put_levels(crisis, site_id, [level(first, "PT5M", "soon")])
    assert [e["field"] for e in not_a_duration.json()["errors"]] == ["levels.0.call_after"]

    stored = await put_levels(
        crisis, site_id, [level(first, "PT5M", "PT120S"), level(second, "PT5M", "PT5M")]
    )

    assert stored.status_code == 200, stored.text
    shown = (await crisis.http.get(f"/sites/{site_id}/escalation-policy")).json()
    assert [lvl.get("call_after") for lvl in shown["levels"]] == ["PT2M", "PT5M"]
    assert [w for w in shown["warnings"] if "call_after" in w] == [
        "level 2: call_after PT5M is not shorter than ack_timeout PT5M: the call comes only as"
        " the next level is paged; a shorter call_after calls while this level can still"
        " acknowledge"
    ]


async def test_each_page_carries_its_levels_call_after(
    crisis: RunningCrisis, bus: Bus, clock: ControllableClock
) -> None:
    site_id = uuid4()
    first, second = await register_staff(bus, site_id, 2)
    answer = await put_levels(
        crisis, site_id, [level(first, "PT5M", "PT2M"), level(second, "PT5M")]
    )
    assert answer.status_code == 200, answer.text
    alert_id = (await flag(crisis, site_id, uuid4()))["alert_id"]

    async def paged(count: int) -> list[dict[str, Any]]:
        found = pages(await bus.crisis_events(site_id, "PageRequested"), alert_id)
        return found if len(found) >= count else []

    [level_one] = await eventually(lambda: paged(1), timeout=10)
    clock.advance(timedelta(minutes=5, seconds=1))  # level 1 did not acknowledge in time
    both = await eventually(lambda: paged(2), timeout=10)

    assert (level_one["level"], level_one["call_after"]) == (1, "PT2M")
    level_two = next(p for p in both if p["level"] == 2)
    assert level_two.get("call_after") is None  # notify's PAGE_CALL_DELAY
