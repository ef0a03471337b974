"""Runs the on-call look-ahead check at start-up and then every CRISIS_ONCALL_CHECK_INTERVAL,
and publishes its findings as gauges (alerts CrisisOnCallGapAhead, CrisisOnCallSingleChannel)."""

import asyncio

from counseling_shared.logs import get_logger
from counseling_shared.service import Runtime
from crisis import metrics
from crisis.application.oncall_check import look_ahead
from crisis.settings import CrisisSettings

log = get_logger(__name__)
RETRY_SECONDS = 60.0


async def oncall_look_ahead(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.oncall_check_interval if isinstance(settings, CrisisSettings) else 86400
    while True:
        wait = interval
        try:
            await check_once(runtime)
        except Exception as exc:
            # A failed check is retried soon; the stale timestamp shows it meanwhile.
            log.warning("oncall_check_failed", error=repr(exc))
            wait = min(interval, RETRY_SECONDS)
        await asyncio.sleep(wait)


async def check_once(runtime: Runtime) -> None:
    now = runtime.clock.now()
    async with runtime.db().acquire() as conn:
        sites = await look_ahead(conn, now)
    metrics.ONCALL_EMPTY_HOURS.clear()
    metrics.ONCALL_SINGLE_CHANNEL.clear()
    for site in sites:
        label = str(site.site_id)
        metrics.ONCALL_EMPTY_HOURS.labels(label).set(len(site.empty_hours))
        metrics.ONCALL_SINGLE_CHANNEL.labels(label).set(len(site.single_channel_staff))
        if site.empty_hours:
            log.warning(
                "oncall_gap_ahead",
                site_id=label,
                hours=len(site.empty_hours),
                first=site.empty_hours[0].isoformat(),
            )
        if site.single_channel_staff:
            log.warning(
                "oncall_staff_single_channel",
                site_id=label,
                staff_ids=sorted(str(s) for s in site.single_channel_staff),
            )
    metrics.ONCALL_CHECKED_AT.set(now.timestamp())
