"""Holds' write path: saving one with its slot claim, and turning one into an appointment."""

from uuid import UUID

from booking.adapters import claims, scheduling_store
from booking.application.claiming import save_claiming
from booking.application.recording import record, stream_id
from booking.domain.errors import InvalidCommand
from booking.domain.scheduling import holds
from booking.domain.scheduling.holds import Hold
from counseling_shared import events as public
from counseling_shared.events import IntegrationEvent
from counseling_shared.unit_of_work import UnitOfWork


def hold_events(state: Hold, event: holds.HoldEvent) -> list[IntegrationEvent]:
    fields = {
        "hold_id": state.id,
        "site_id": state.site_id,
        "counselor_id": state.counselor_id,
        "start": state.slot.start,
        "end": state.slot.end,
    }
    match event:
        case holds.HoldPlaced():
            return [public.HoldPlaced(**fields, expires_at=state.expires_at)]
        case holds.HoldReleased():
            return [public.HoldReleased(**fields, reason=event.reason.value)]


async def save_hold(uow: UnitOfWork, current: Hold | None, events: list[holds.HoldEvent]) -> Hold:
    ident = current.id if current else events[0].hold_id
    stream = stream_id("hold", ident)
    state = await record(
        uow,
        stream,
        current,
        current.version if current else 0,
        events,
        holds.evolve,
        hold_events,
        ident,
    )
    await save_claiming(
        uow,
        lambda: scheduling_store.save_hold(uow.conn, state),
        claims.of_hold(state),
        stream,
        state.version,
    )
    return state


async def consume_hold(
    uow: UnitOfWork, hold_id: UUID, booking: holds.Booking, appointment_id: UUID
) -> Hold:
    """Release the hold for the appointment about to be saved in this same transaction."""
    current = await scheduling_store.load_hold(uow.conn, hold_id, lock=True)
    if current is None:
        raise InvalidCommand({"hold_id": "no hold with this id"})
    return await save_hold(uow, current, holds.consume(current, booking, appointment_id, uow.now()))


async def expire_hold(uow: UnitOfWork, hold: Hold) -> Hold | None:
    """The durable timer's work: release a hold whose time is up (None: nothing to do)."""
    events = holds.expire(hold, uow.now())
    return await save_hold(uow, hold, events) if events else None
