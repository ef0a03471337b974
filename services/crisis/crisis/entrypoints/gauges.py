"""Refreshes the gauges read from the database: open alerts (and those exhausted), overdue
escalation steps, pages not sent in time, the oldest acknowledgement of an unresolved alert, and
staff phone digests by the key that made them.

Every replica reports the same database's counts: rules read them with `max`, never `sum`."""

from counseling_shared.gauge_loop import refresh_every
from counseling_shared.links import digest_states
from counseling_shared.service import Runtime
from crisis import metrics
from crisis.adapters import alert_views, staff, timers
from crisis.domain.phones import key_fingerprint
from crisis.settings import CrisisSettings

OVERDUE_GRACE_SECONDS = 5.0


async def refresh_gauges(runtime: Runtime) -> None:
    settings = runtime.settings
    interval, unsent_after = 5.0, 30.0
    if isinstance(settings, CrisisSettings):
        interval, unsent_after = settings.gauge_interval, settings.page_unsent_after
    current, *previous = [key_fingerprint(k) for k in settings.link_keys]

    async def refresh() -> None:
        now = runtime.clock.now()
        async with runtime.db().acquire() as conn:
            counts = await alert_views.open_alert_counts(conn)
            exhausted = await alert_views.open_exhausted_count(conn)
            overdue = await timers.overdue_count(conn, now, OVERDUE_GRACE_SECONDS)
            unsent = await alert_views.unsent_page_count(conn, now, unsent_after)
            held = await alert_views.oldest_acknowledgement_age(conn, now)
            digests = await staff.phone_digests_by_key(conn)
        for status, n in counts.items():
            metrics.OPEN_ALERTS.labels(status).set(n)
        metrics.OPEN_EXHAUSTED_ALERTS.set(exhausted)
        metrics.OVERDUE_STEPS.set(overdue)
        metrics.PAGES_UNSENT.set(unsent)
        metrics.OLDEST_ACKNOWLEDGEMENT.set(held)
        for state, n in digest_states(digests, current, frozenset(previous)).items():
            metrics.STAFF_PHONE_DIGESTS.labels(state).set(n)

    await refresh_every(interval, refresh, "gauges_not_refreshed")
