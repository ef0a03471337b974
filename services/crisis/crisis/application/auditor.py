"""The escalation auditor: every open alert must always have a next step.

An open, unacknowledged alert that is not exhausted has a pending deadline (a scheduled
`escalation_timers` row for its current step), which pages the next level when it passes. One
that opened while its site had no policy has nobody to page until a policy exists; once one
does, it is paged at once. The auditor looks for alerts that break either rule (a deadline row
lost or settled by mistake, a policy set while the page did not happen), repairs each from the
alert's own state, logs it and counts it in `crisis_alerts_without_next_step_total`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from counseling_shared.unit_of_work import unit_of_work
from crisis import metrics
from crisis.adapters import alerts, policies, timers
from crisis.application.alerts import page_orphan_alerts
from crisis.application.publishing import Paging

log = get_logger(__name__)


async def audit_next_steps(pool: asyncpg.Pool[Any], clock: Clock, paging: Paging) -> int:
    """One pass over the open alerts; returns how many were repaired."""
    repaired = 0
    async with pool.acquire() as conn:
        orphan_sites = await policies.sites_with_orphan_alerts(conn)
        without_deadline = await timers.alerts_without_deadline(conn)
    for site_id in orphan_sites:
        async with unit_of_work(pool, source="crisis", clock=clock) as uow:
            paged = await page_orphan_alerts(uow, site_id, paging)
        for alert_id in paged:
            _repaired(alert_id, site_id, "policy_not_paged")
        repaired += len(paged)
    for alert_id in without_deadline:
        repaired += await _restore_deadline(pool, clock, alert_id)
    return repaired


async def _restore_deadline(pool: asyncpg.Pool[Any], clock: Clock, alert_id: UUID) -> int:
    """Re-check under the alert's lock (the escalation may have moved on meanwhile)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await alerts.lock(conn, alert_id):
            return 0
        loaded = await alerts.load(conn, alert_id)
        if loaded is None or loaded.alert.deadline is None:
            return 0
        if not await timers.restore(conn, loaded.alert, clock.now()):
            return 0
    _repaired(alert_id, loaded.alert.site_id, "deadline_missing")
    return 1


def _repaired(alert_id: UUID, site_id: UUID, reason: str) -> None:
    metrics.ALERTS_WITHOUT_NEXT_STEP.labels(reason).inc()
    log.warning(
        "alert_without_next_step_repaired",
        alert_id=str(alert_id),
        site_id=str(site_id),
        reason=reason,
    )
