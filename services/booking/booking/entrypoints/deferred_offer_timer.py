"""The durable timer that offers a slot freed outside the waitlist's offer window when the
window opens (`waitlist_deferred_slots`: rows with a `due_at`, claimed with SKIP LOCKED, woken
by NOTIFY; docs/backbone.md, Timers)."""

from __future__ import annotations

from typing import Any

import asyncpg

from booking.adapters.deferred_store import DEFERRED_TIMER_CHANNEL, deferred_from
from booking.application.waitlist import OfferPolicy, deferred_due
from booking.entrypoints.policies import offer_policy
from counseling_shared.scheduler import DueScheduler, FireTimer
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import UnitOfWork

# Its rows fall due hours after they are written (at the window's opening), each announced by
# a NOTIFY: looking by time once a minute instead of every LISTENING_POLL only bounds how late
# a row whose NOTIFY was lost (a LISTEN connection dead without a word) is seen.
LOOK_EVERY = 60.0


def deferred_firing(policy: OfferPolicy) -> FireTimer:
    async def fire_deferred(uow: UnitOfWork, row: asyncpg.Record) -> None:
        await deferred_due(uow, deferred_from(row), policy)

    return fire_deferred


def deferred_scheduler_for(runtime: Runtime, **options: Any) -> DueScheduler:
    return DueScheduler.of_runtime(
        runtime,
        table="waitlist_deferred_slots",
        channel=DEFERRED_TIMER_CHANNEL,
        fire=deferred_firing(offer_policy(runtime)),
        due_condition="status = 'waiting'",
        **({"listening_sleep": LOOK_EVERY} | options),
    )
