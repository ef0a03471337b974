"""Refreshes the gauges read from the database: the follow-up scheduler's backlog."""

import asyncio

from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime
from followup import metrics
from followup.adapters.backlog import scheduler_backlog
from followup.settings import FollowupSettings

log = get_logger(__name__)
OVERDUE_GRACE_SECONDS = 5.0


async def refresh_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.gauge_interval if isinstance(settings, FollowupSettings) else 5.0
    while True:
        try:
            async with runtime.db().acquire() as conn:
                backlog = await scheduler_backlog(conn, runtime.clock.now(), OVERDUE_GRACE_SECONDS)
            metrics.SCHEDULED.set(backlog.scheduled)
            metrics.DUE_OPEN.set(backlog.due_open)
            metrics.OVERDUE.set(backlog.overdue)
        except Exception as exc:
            # Gauges are not worth stopping the process for (a crashed task would).
            log.warning("gauges_not_refreshed", error=repr(exc))
        await asyncio.sleep(interval)
