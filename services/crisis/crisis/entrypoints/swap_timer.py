"""Shift swap expiry: an open request's row is due at its start; firing it expires it."""

import asyncpg

from counseling_shared.scheduler import DueScheduler
from counseling_shared.service import Runtime
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters import swaps
from crisis.application.swaps import expire_swap


async def _fire(uow: UnitOfWork, row: asyncpg.Record) -> None:
    await expire_swap(uow, row["id"])


def swap_scheduler_for(runtime: Runtime) -> DueScheduler:
    return DueScheduler.of_runtime(
        runtime, table=swaps.TABLE, channel=swaps.CHANNEL, fire=_fire, due_condition=swaps.DUE
    )
