"""Alerts escalate level by level while crisis is SIGKILLed, or PostgreSQL is stopped, in the
middle of their escalation: each level is paged exactly once, in order and never early, and an
alert acknowledged mid-way escalates no further (tests/faults/climbed.py).

Two waves of alerts, a second and a half apart, so that when the fault strikes the first wave
is at level 2 and the second at level 1: deadlines of both levels fall due during the fault.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.js import JetStreamContext

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from tests.e2e.center import created
from tests.e2e.harness import Suite, eventually
from tests.faults.climbed import climbed
from tests.faults.conftest import observer
from tests.faults.effects import Figures, events_of, site_events
from tests.faults.ladder import Ladder, Raised, restart_crisis_with

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

WAVE = 3
"""Alerts per wave."""

WAVE_GAP = 1.5
DOWN = 2.0
"""How long crisis stays down after its SIGKILL, before its start-up."""

POSTGRES_OUTAGE = 12.0
CLIMB_TIMEOUT = 60.0


@pytest.fixture(scope="module")
async def js(fault_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await observer(fault_nats.url)
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def ladders(fault_suite: Suite) -> dict[str, Ladder]:
    """A ladder site per test; crisis restarted once with every member's staff key."""
    opened = {name: await Ladder.open(fault_suite) for name in ("sigkill", "postgres")}
    await restart_crisis_with(
        fault_suite, [entry for ladder in opened.values() for entry in ladder.key_entries()]
    )
    return opened


async def raise_waves(ladder: Ladder) -> tuple[list[Raised], list[Raised]]:
    first = [await ladder.raise_alert() for _ in range(WAVE)]
    await asyncio.sleep(WAVE_GAP)
    second = [await ladder.raise_alert() for _ in range(WAVE)]
    return first, second


async def take_at_level_2(js: JetStreamContext, ladder: Ladder, alert: Raised) -> None:
    """Once level 2's pages of `alert` have reached its members (SMS and email: an
    acknowledgement withdraws what is still pending), its first member takes it."""

    async def delivered() -> bool:
        events = await site_events(js, ladder.site_id)
        pages = {
            str(p.data["page_id"])
            for p in events_of(events["crisis"], "PageRequested", alert_id=alert.alert_id)
            if p.data["level"] == 2
        }
        sent = [
            e
            for e in events_of(events["notify"], "NotificationSent")
            if str(e.data.get("page_id")) in pages
        ]
        return len(pages) == len(ladder.levels[1]) and len(sent) == 2 * len(pages)

    await eventually(delivered, timeout=30, interval=0.2)
    await ladder.acknowledge(alert, ladder.levels[1][0], level=2)


async def escalation_due_at(ladder: Ladder, alert: Raised) -> datetime:
    async with ladder.suite.client("crisis") as crisis:
        view = created(await crisis.get(f"/alerts/{alert.alert_id}"))
    return datetime.fromisoformat(view["escalation_due_at"])


def record(
    figures: list[dict[str, Any]],
    name: str,
    ladder: Ladder,
    fault_seconds: float,
    found: Figures,
    took: float,
    test_seconds: float,
) -> None:
    entry = {
        "fault": name,
        "fault_seconds": round(fault_seconds, 1),
        "alerts": len(ladder.alerts),
        "acknowledged": sum(1 for a in ladder.alerts if a.acknowledged_by),
        "events_checked": found.events_checked,
        "deliveries_checked": found.deliveries_checked,
        "lost": found.lost,
        "doubled": found.doubled,
        "recovered": True,
        "recovery_seconds": round(took, 1),
        "test_seconds": round(test_seconds, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    figures.append(entry)
    print(f"\nfault {name}: {entry}")


async def test_alerts_climb_every_level_once_through_crisis_sigkills(
    fault_suite: Suite,
    ladders: dict[str, Ladder],
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    ladder = ladders["sigkill"]
    began = time.monotonic()
    first, second = await raise_waves(ladder)
    await take_at_level_2(js, ladder, first[0])
    # First kill: the first wave's level 3 and the second wave's level 2 fall due while
    # crisis is down; they are paged once it is back, late but once.
    fault_started = time.monotonic()
    fault_suite.kill("crisis")
    await asyncio.sleep(DOWN)
    await fault_suite.restart("crisis")
    # Second kill: as the second wave's level 3 falls due, so that it may land while a
    # deadline is being fired (before its commit: fired again; after: never again).
    due = await escalation_due_at(ladder, second[-1])
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    fault_suite.kill("crisis")
    await asyncio.sleep(DOWN)
    await fault_suite.restart("crisis")
    fault_ended = time.monotonic()
    found, took = await climbed(js, ladder, timeout=CLIMB_TIMEOUT)
    assert (found.lost, found.doubled) == (0, 0)
    record(
        fault_figures,
        "crisis SIGKILLed twice mid-escalation",
        ladder,
        fault_ended - fault_started,
        found,
        took,
        time.monotonic() - began,
    )


async def test_alerts_climb_every_level_once_through_a_postgres_outage(
    fault_postgres: PostgresServer,
    ladders: dict[str, Ladder],
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    ladder = ladders["postgres"]
    began = time.monotonic()
    first, _ = await raise_waves(ladder)
    await take_at_level_2(js, ladder, first[0])
    fault_started = time.monotonic()
    await asyncio.to_thread(fault_postgres.stop)
    await asyncio.sleep(POSTGRES_OUTAGE)
    await asyncio.to_thread(fault_postgres.start)
    fault_ended = time.monotonic()
    found, took = await climbed(js, ladder, timeout=CLIMB_TIMEOUT)
    assert (found.lost, found.doubled) == (0, 0)
    record(
        fault_figures,
        f"PostgreSQL stopped {POSTGRES_OUTAGE:.0f} s mid-escalation",
        ladder,
        fault_ended - fault_started,
        found,
        took,
        time.monotonic() - began,
    )
