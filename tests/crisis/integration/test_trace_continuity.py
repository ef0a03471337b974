"""One trace per business flow: the level-2 page an escalation deadline fires continues the trace
of the request that flagged the risk, not a new one."""

import json
import secrets
from uuid import UUID, uuid4

import nats
import pytest
from nats.aio.msg import Msg

from tests.crisis.integration.harness import Bus, RunningCrisis, eventually
from tests.crisis.integration.steps import put_policy, register_staff

pytestmark = pytest.mark.integration


async def _pages(bus: Bus, site_id: UUID) -> list[Msg]:
    """Every PageRequested crisis published for the site so far, with its headers."""
    sub = await bus.js.subscribe(f"crisis.{site_id}.PageRequested", ordered_consumer=True)
    found: list[Msg] = []
    try:
        while True:
            try:
                found.append(await sub.next_msg(timeout=0.3))
            except nats.errors.TimeoutError:
                return found
    finally:
        await sub.unsubscribe()


def _level(msg: Msg) -> int:
    level: int = json.loads(msg.data)["data"]["level"]
    return level


def _trace_id(msg: Msg) -> str:
    traceparent = (msg.headers or {}).get("traceparent", "")
    return traceparent.split("-")[1] if traceparent.count("-") == 3 else ""


async def test_the_escalated_page_continues_the_trace_of_the_flag_request(
    crisis: RunningCrisis, bus: Bus
) -> None:
    site, client = uuid4(), uuid4()
    first, second = await register_staff(bus, site, 2)
    await put_policy(crisis, site, [([first], "PT1S"), ([second], "PT30S")])
    trace_id = secrets.token_hex(16)

    answer = await crisis.http.post(
        "/risk-flags",
        json={
            "client_id": str(client),
            "site_id": str(site),
            "level": "high",
            "source": "integration",
        },
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    assert answer.status_code == 202, answer.text

    async def level_two() -> list[Msg]:
        return [m for m in await _pages(bus, site) if _level(m) == 2]

    [escalated] = await eventually(level_two, timeout=5, interval=0.05)

    assert _trace_id(escalated) == trace_id
