"""The four services under steady load while their infrastructure fails, one fault at a time:
every accepted command ends with exactly its effects (tests/faults/effects.py)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import JetStreamContext

from devstack.nats import NatsServer
from devstack.postgres import PostgresServer
from tests.e2e.harness import Suite
from tests.faults.conftest import observer
from tests.faults.run import survive

# Generous: a fault, its recovery and the load around it take 20 to 80 s on a quiet machine.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

POSTGRES_OUTAGE = 30.0


@pytest.fixture(scope="module")
async def js(fault_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await observer(fault_nats.url)
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


@pytest.mark.parametrize("service", ["booking", "followup", "notify", "crisis"])
async def test_a_service_sigkilled_under_load_loses_and_doubles_nothing(
    service: str,
    fault_suite: Suite,
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    async def kill_and_restart() -> None:
        fault_suite.kill(service)
        await asyncio.sleep(1.0)
        await fault_suite.restart(service)

    record = await survive(f"{service} SIGKILLed", fault_suite, js, kill_and_restart, fault_figures)
    assert (record["lost"], record["doubled"]) == (0, 0)


async def test_nats_restarted_under_load_loses_and_doubles_nothing(
    fault_nats: NatsServer,
    fault_suite: Suite,
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    async def restart_nats() -> None:
        await asyncio.to_thread(fault_nats.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(fault_nats.start)

    record = await survive("NATS restarted", fault_suite, js, restart_nats, fault_figures)
    assert (record["lost"], record["doubled"]) == (0, 0)


async def test_postgres_stopped_for_30s_under_load_loses_and_doubles_nothing(
    fault_postgres: PostgresServer,
    fault_suite: Suite,
    js: JetStreamContext,
    fault_figures: list[dict[str, Any]],
) -> None:
    async def outage() -> None:
        await asyncio.to_thread(fault_postgres.stop)
        await asyncio.sleep(POSTGRES_OUTAGE)
        await asyncio.to_thread(fault_postgres.start)

    record = await survive(
        f"PostgreSQL stopped {POSTGRES_OUTAGE:.0f} s", fault_suite, js, outage, fault_figures
    )
    assert (record["lost"], record["doubled"]) == (0, 0)
