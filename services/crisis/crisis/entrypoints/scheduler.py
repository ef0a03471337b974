"""Escalation deadlines: the DueScheduler claims due `escalation_timers` rows and escalates.
Shift swap requests expire on the same LISTEN connection (`swap_timer`)."""

from typing import Any

import asyncpg

from counseling_shared.scheduler import DueScheduler, run_together
from counseling_shared.service import BackgroundTask, Runtime
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import timers
from crisis.application.alerts import DueDeadline, escalation_due
from crisis.application.publishing import Paging
from crisis.domain.escalation import Step
from crisis.entrypoints.swap_timer import swap_scheduler_for


def escalation_scheduler(paging: Paging) -> BackgroundTask:
    async def fire(uow: UnitOfWork, row: asyncpg.Record) -> None:
        step = Step(row["cycle"], row["level"])
        due = DueDeadline(row["id"], row["alert_id"], step, row["kind"], row["round"])
        await escalation_due(uow, due, paging)

    async def escalation_scheduler(runtime: Runtime) -> None:
        await run_together(scheduler_for(runtime, fire), swap_scheduler_for(runtime))

    return escalation_scheduler


def scheduler_for(runtime: Runtime, fire: Any) -> DueScheduler:
    return DueScheduler.of_runtime(
        runtime,
        table=timers.TABLE,
        channel=timers.CHANNEL,
        fire=fire,
        due_condition=timers.DUE,
        failure_backoff=5.0,  # a page must not wait the default 30 s after a failed attempt
    )
