"""The durable timer loop over the `followups` table (docs/backbone.md, Timers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from counseling_shared.scheduler import DueScheduler
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import UnitOfWork
from followup import metrics
from followup.adapters.postgres_store import TIMER_CHANNEL, PostgresFollowupStore, followup_from_row
from followup.adapters.regularity_store import GAP_TIMER_CHANNEL, regularity_from_row
from followup.adapters.response_links import ResponseLinks
from followup.application.timers import contact_gap_timer_fires, follow_up_falls_due
from followup.settings import FollowupSettings


def firer(links: ResponseLinks) -> Callable[[UnitOfWork, asyncpg.Record], Awaitable[None]]:
    async def fire(uow: UnitOfWork, row: asyncpg.Record) -> None:
        await fire_followup(uow, row, links)

    return fire


async def fire_followup(
    uow: UnitOfWork, row: asyncpg.Record, links: ResponseLinks | None = None
) -> None:
    store = PostgresFollowupStore(uow.conn)
    due = await follow_up_falls_due(uow, store, followup_from_row(row), links)
    if due is not None:
        # Counted inside the scheduler's transaction: should its commit fail, the row fires
        # again on a later pass and is counted again (rare; the event itself is not doubled).
        metrics.DUE_EMITTED.labels(due.kind.value).inc()
        metrics.DUE_DELAY.observe(max((uow.now() - due.due_at).total_seconds(), 0.0))


def scheduler_for(runtime: Runtime, **options: Any) -> DueScheduler:
    s = runtime.settings
    assert isinstance(s, FollowupSettings)
    return DueScheduler.of_runtime(
        runtime,
        table="followups",
        channel=TIMER_CHANNEL,
        fire=firer(ResponseLinks.from_settings(s)),
        due_condition="status = 'scheduled'",
        **options,
    )


async def followup_scheduler(runtime: Runtime) -> None:
    """Fires each scheduled follow-up within a second of its `due_at` (woken by NOTIFY)."""
    await scheduler_for(runtime).run()


async def fire_contact_gap(uow: UnitOfWork, row: asyncpg.Record) -> None:
    planned = await contact_gap_timer_fires(
        uow, PostgresFollowupStore(uow.conn), regularity_from_row(row)
    )
    metrics.CONTACT_GAPS_DETECTED.inc()
    if planned is not None:
        metrics.REGULARITY_OUTREACH_PLANNED.inc()


def gap_scheduler_for(runtime: Runtime, **options: Any) -> DueScheduler:
    return DueScheduler.of_runtime(
        runtime,
        table="contact_regularity",
        channel=GAP_TIMER_CHANNEL,
        fire=fire_contact_gap,
        due_condition="due_at IS NOT NULL",
        **options,
    )


async def contact_gap_scheduler(runtime: Runtime) -> None:
    """Fires each client's contact-gap timer (an index on `due_at`, never a scan of clients)."""
    await gap_scheduler_for(runtime).run()
