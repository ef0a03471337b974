"""A freed slot waiting for the offer window to open (`offer_window`): a durable timer row,
fired at `offer_at`, when the slot is offered to the waitlist if it is still free then.

The slot is not held meanwhile: anyone may book it during the night.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from booking.domain.scheduling.waitlist import FreedSlot
from counseling_shared.codes import Modality


class DeferredStatus(StrEnum):
    WAITING = "waiting"
    RELEASED = "released"


@dataclass(frozen=True)
class DeferredSlot:
    id: UUID
    slot: FreedSlot
    deferred_at: datetime
    offer_at: datetime
    status: DeferredStatus
    version: int
    released_at: datetime | None = None


@dataclass(frozen=True)
class FreedSlotDeferred:
    deferred_id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: datetime
    end: datetime
    deferred_at: datetime
    offer_at: datetime
    group_session_id: UUID | None = None  # a group's freed seat


@dataclass(frozen=True)
class DeferredSlotReleased:
    """The window opened: the slot went back to the waitlist's ordinary offer."""

    deferred_id: UUID
    released_at: datetime


DeferredEvent = FreedSlotDeferred | DeferredSlotReleased


def defer(
    deferred_id: UUID, slot: FreedSlot, now: datetime, offer_at: datetime
) -> list[DeferredEvent]:
    assert offer_at > now, "a slot offered now is not deferred"
    return _deferred(deferred_id, slot, now, offer_at)


def _deferred(
    deferred_id: UUID, slot: FreedSlot, now: datetime, offer_at: datetime
) -> list[DeferredEvent]:
    return [
        FreedSlotDeferred(
            deferred_id,
            slot.site_id,
            slot.counselor_id,
            slot.room_id,
            slot.modality,
            slot.start,
            slot.end,
            now,
            offer_at,
            slot.group_session_id,
        )
    ]


def hand_over(deferred_id: UUID, slot: FreedSlot, now: datetime) -> list[DeferredEvent]:
    """A slot freed where no offer can be made (an operator's erasure has no offer policy:
    no link signer, no offer window), due at once: the service's timer offers it on."""
    return _deferred(deferred_id, slot, now, now)


def release(deferred: DeferredSlot, now: datetime) -> list[DeferredEvent]:
    if deferred.status is not DeferredStatus.WAITING:
        return []
    return [DeferredSlotReleased(deferred.id, now)]


def evolve(state: DeferredSlot | None, event: DeferredEvent) -> DeferredSlot:
    match event:
        case FreedSlotDeferred():
            slot = FreedSlot(
                event.site_id,
                event.counselor_id,
                event.room_id,
                event.modality,
                event.start,
                event.end,
                event.group_session_id,
            )
            return DeferredSlot(
                event.deferred_id,
                slot,
                event.deferred_at,
                event.offer_at,
                DeferredStatus.WAITING,
                version=1,
            )
        case DeferredSlotReleased():
            assert state is not None, "DeferredSlotReleased before FreedSlotDeferred"
            return replace(
                state,
                status=DeferredStatus.RELEASED,
                released_at=event.released_at,
                version=state.version + 1,
            )
