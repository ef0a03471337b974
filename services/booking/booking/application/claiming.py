"""Saving a projection row that claims a slot, with the database's refusal made a 409."""

from collections.abc import Awaitable, Callable

import asyncpg

from booking.adapters import claims, projections
from booking.adapters.projections import RESOURCE_OF_CONSTRAINT
from booking.domain.appointment import Appointment
from booking.domain.errors import SlotTaken
from counseling_shared import eventstore
from counseling_shared.eventstore import ConcurrencyConflict, NewEvent
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
        raise await _refusal(uow, (resource,), claim, stream, version) from None


async def insert_claiming(
    uow: UnitOfWork, appointment: Appointment, stream: str, events: list[NewEvent]
) -> None:
    """Append a new appointment's `events` and insert its booked row with its claim, in one
    statement; an overlap becomes `SlotTaken` naming the first resource (counselor, room,
    client) another appointment or hold holds (the events go with the rolled-back
    transaction)."""
    uow.appended(stream)
    # The last write of a booking: its outbox rows and key record go in the same statement.
    row = await uow.write_with_flush(
        f"""{projections.BOOKED_CTES},
            appended AS ({eventstore.append_statement(projections.BOOKED_PARAMETERS + 1)})""",
        f"""{projections.BOOKED_WRITTEN} AS written,
            (SELECT count(*) FROM appended) AS appended""",
        [*projections.booked_values(appointment), *eventstore.append_values(stream, 0, events)],
    )
    if row["appended"] != len(events):  # a new stream already written: decide again
        raise ConcurrencyConflict(stream, 0)
    if row["written"]:
        return
    claim = claims.of_appointment(appointment)
    raise await _refusal(uow, claim.resources, claim, stream, appointment.version)


async def _refusal(
    uow: UnitOfWork, resources: tuple[str, ...], claim: claims.Claim, stream: str, version: int
) -> Exception:
    """What to raise after a collision: `SlotTaken` naming who holds the first of `resources`,
    or a retry when the other claim vanished meanwhile."""
    for resource in resources:
        holder = await claims.holder_of(uow.conn, resource, claim)
        if holder is None:
            continue
        if holder.owner_kind == "hold":
            return SlotTaken(resource, None, conflicting_hold_id=holder.owner_id)
        if holder.owner_kind == "group_session":
            return SlotTaken(resource, None, conflicting_group_session_id=holder.owner_id)
        return SlotTaken(resource, holder.owner_id)
    # The holder moved or was released after we collided with it: decide again.
    return ConcurrencyConflict(stream, version)
