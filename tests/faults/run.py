"""One fault under steady load, and its figures."""

import platform
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psutil
from nats.js import JetStreamContext

from tests.e2e.harness import Suite
from tests.faults.effects import recovered
from tests.faults.load import Site

RECOVERY_TIMEOUT = 120.0


async def survive(
    name: str,
    suite: Suite,
    js: JetStreamContext,
    inject: Callable[[], Awaitable[None]],
    figures: list[dict[str, Any]],
    *,
    workers: int = 3,
) -> dict[str, Any]:
    """Start a site's load, let it flow, `inject` the fault (it returns once the fault is over:
    the server or process is back), keep the load on a little longer, then wait until every
    effect of every accepted command is there. Records the figures (also when the effects
    never complete) and fails unless every effect is there exactly once."""
    site = await Site.open(suite)
    async with site.steady_load(workers):
        await site.wait_flows(workers)
        started = time.monotonic()
        await inject()
        ended = time.monotonic()
        await site.wait_flows(workers)
    found, took = await recovered(js, site, fault_ended=ended, timeout=RECOVERY_TIMEOUT)
    record = {
        "fault": name,
        "fault_seconds": round(ended - started, 1),
        "commands": site.log.counts(),
        "flows": site.log.flows_done,
        "events_checked": found.events_checked,
        "deliveries_checked": found.deliveries_checked,
        "lost": found.lost,
        "doubled": found.doubled,
        "recovered": took is not None,
        "recovery_seconds": None if took is None else round(took, 1),
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, {platform.system()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    figures.append(record)
    print(f"\nfault {name}: {record}")
    assert took is not None, f"{name}: effects incomplete: {found.summary()}"
    assert found.clean, f"{name}: {found.summary()}"
    return record
