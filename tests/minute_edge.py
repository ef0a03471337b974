"""Bursts against a per-minute rate limit, started clear of a minute's edge.

The limiter (`limits`' sliding window counter) counts by minutes aligned on the clock and
weights the previous minute by how much of it still overlaps, rounded down: just past an edge
the previous minute's count is one less, so a burst that straddles an edge gets one request
more than the rate. A test that bursts past a per-minute limit starts its burst here.
"""

from __future__ import annotations

import asyncio
import os
import time

MARGIN = 5.0
"""Seconds a burst may take: one starting closer to the next edge waits for it to pass."""

PLACE_BEFORE_EDGE = "TEST_BURST_BEFORE_MINUTE_EDGE"
"""Set to a number of seconds, bursts start that long before an edge instead (waiting up to a
minute): how to see what the wait protects against. Never set in a normal run."""


def seconds_to_edge(now: float | None = None) -> float:
    return 60 - (time.time() if now is None else now) % 60


async def clear_of_a_minutes_edge(margin: float = MARGIN) -> None:
    """Return once a burst of up to `margin` seconds can run before the next minute's edge
    (waits under `margin` seconds)."""
    left = seconds_to_edge()
    if (placed := os.environ.get(PLACE_BEFORE_EDGE)) is not None:
        await asyncio.sleep((left - float(placed)) % 60)
        return
    if left < margin:
        await asyncio.sleep(left + 0.05)
