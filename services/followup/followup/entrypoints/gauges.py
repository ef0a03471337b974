"""Refreshes the gauges read from the database: the follow-up scheduler's backlog."""

from uuid import UUID

from prometheus_client import Gauge

from counseling_shared.gauge_loop import refresh_every
from counseling_shared.service import Runtime
from followup import metrics
from followup.adapters.backlog import scheduler_backlog
from followup.adapters.regularity_store import regularity_counts
from followup.settings import FollowupSettings

OVERDUE_GRACE_SECONDS = 5.0


async def refresh_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.gauge_interval if isinstance(settings, FollowupSettings) else 5.0

    async def refresh() -> None:
        async with runtime.db().acquire() as conn:
            backlog = await scheduler_backlog(conn, runtime.clock.now(), OVERDUE_GRACE_SECONDS)
            past_gap, in_cooloff = await regularity_counts(conn, runtime.clock.now())
        metrics.SCHEDULED.set(backlog.scheduled)
        metrics.DUE_OPEN.set(backlog.due_open)
        metrics.OVERDUE.set(backlog.overdue)
        _set_per_site(metrics.CLIENTS_PAST_GAP, past_gap)
        _set_per_site(metrics.CLIENTS_IN_COOLOFF, in_cooloff)

    await refresh_every(interval, refresh, "gauges_not_refreshed")


def _set_per_site(gauge: Gauge, counts: dict[UUID, int]) -> None:
    """A site whose count fell to zero keeps its series (at 0), so an alert resolves."""
    seen = _SITES_SEEN.setdefault(gauge, set())
    for site_id in seen - counts.keys():
        gauge.labels(str(site_id)).set(0)
    for site_id, count in counts.items():
        gauge.labels(str(site_id)).set(count)
    seen.update(counts)


_SITES_SEEN: dict[Gauge, set[UUID]] = {}
