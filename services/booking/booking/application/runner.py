"""Runs a command handler in a unit of work, retrying once after a lost race."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from booking.domain.errors import NotAllowedNow
from counseling_shared.clock import Clock
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work

SOURCE = "booking"
T = TypeVar("T")


class ChangedConcurrently(NotAllowedNow):
    """Another writer changed the aggregate twice while this command ran (409)."""


async def run_command(
    pool: asyncpg.Pool[Any],
    clock: Clock,
    handler: Callable[[UnitOfWork], Awaitable[T]],
    *,
    key_in_first_read: bool = False,
) -> T:
    """Commit `handler`'s events, projections and outbox rows together, or none of them.

    A stale version means another writer got there first: the command is decided again on
    fresh state once (it may now be refused for a good reason), then given up as a 409.
    `key_in_first_read`: the handler's first statement is `uow.first_read` (`unit_of_work`).
    """
    for attempt in (1, 2):
        try:
            async with unit_of_work(
                pool, source=SOURCE, clock=clock, key_in_first_read=key_in_first_read
            ) as uow:
                return await handler(uow)
        except ConcurrencyConflict as exc:
            if attempt == 2:
                raise ChangedConcurrently(
                    "the record changed while this request ran; retry it"
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover
