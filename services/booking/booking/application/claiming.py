"""Saving a projection row that claims a slot, with the database's refusal made a 409."""

from collections.abc import Awaitable, Callable

import asyncpg

from booking.adapters import claims
from booking.adapters.projections import RESOURCE_OF_CONSTRAINT
from booking.domain.errors import SlotTaken
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import UnitOfWork


async def save_claiming(
    uow: UnitOfWork,
    save: Callable[[], Awaitable[None]],
    claim: claims.Claim,
    stream: str,
    version: int,
) -> None:
    """Run `save` in a savepoint; a collision with another appointment or hold becomes
    `SlotTaken` naming it (or a retry when the other claim vanished meanwhile)."""
    try:
        async with uow.conn.transaction():  # savepoint: the lookup below still runs
            await save()
    except asyncpg.ExclusionViolationError as exc:
        resource = RESOURCE_OF_CONSTRAINT.get(exc.constraint_name or "")
        if resource is None:
            raise
        holder = await claims.holder_of(uow.conn, resource, claim)
        if holder is None:
            # The holder moved or was released after we collided with it: try again.
            raise ConcurrencyConflict(stream, version) from None
        if holder.owner_kind == "hold":
            raise SlotTaken(resource, None, conflicting_hold_id=holder.owner_id) from None
        raise SlotTaken(resource, holder.owner_id) from None
