"""Refreshes the webhook gauges from the database, so every replica reports the same figures
(a counter kept in one process would see only that process's deliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.gauge_loop import refresh_every
from counseling_shared.service import Runtime
from notify import metrics
from notify.adapters import webhook_store
from notify.settings import NotifySettings


async def refresh_webhook_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.webhook_gauge_interval if isinstance(settings, NotifySettings) else 15.0
    await refresh_every(
        interval,
        lambda: refresh_once(runtime.db(), runtime.clock),
        "webhook_gauges_not_refreshed",
    )


async def refresh_once(pool: asyncpg.Pool[Any], clock: Clock) -> None:
    async with pool.acquire() as conn:
        read = await webhook_store.health(conn)
    now = clock.now()
    for status in ("active", "disabled"):
        metrics.WEBHOOK_SUBSCRIPTIONS.labels(status).set(read.by_status.get(status, 0))
    set_oldest_pending(read.oldest_pending, now)


def set_oldest_pending(oldest: dict[UUID, datetime | None], now: datetime) -> None:
    """One series per active subscription (0 with nothing pending); a subscription disabled
    or deleted since the last reading loses its series, so its alert resolves."""
    for gone in _SEEN - oldest.keys():
        metrics.WEBHOOK_OLDEST_PENDING.remove(str(gone))
    for subscription_id, queued_at in oldest.items():
        age = max((now - queued_at).total_seconds(), 0.0) if queued_at else 0.0
        metrics.WEBHOOK_OLDEST_PENDING.labels(str(subscription_id)).set(age)
    _SEEN.clear()
    _SEEN.update(oldest)


_SEEN: set[UUID] = set()
