"""The durable timer that releases holds when `HOLD_TTL` (or a waitlist offer's TTL) is up
(rows with a `due_at`, claimed with SKIP LOCKED, woken by NOTIFY; docs/backbone.md, Timers)."""

from __future__ import annotations

from typing import Any

import asyncpg

from booking.adapters.scheduling_store import HOLD_TIMER_CHANNEL, hold_from
from booking.application.waitlist import OfferPolicy, hold_expired
from booking.entrypoints.policies import offer_policy
from counseling_shared.scheduler import DueScheduler, FireTimer
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import UnitOfWork


def hold_firing(policy: OfferPolicy | None) -> FireTimer:
    async def fire_hold(uow: UnitOfWork, row: asyncpg.Record) -> None:
        await hold_expired(uow, hold_from(row), policy)

    return fire_hold


def hold_scheduler_for(runtime: Runtime, **options: Any) -> DueScheduler:
    return DueScheduler.of_runtime(
        runtime,
        table="holds",
        channel=HOLD_TIMER_CHANNEL,
        fire=hold_firing(offer_policy(runtime)),
        due_condition="status = 'held'",
        **options,
    )
