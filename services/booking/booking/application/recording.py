"""Recording a decision: append the events, fold them, queue the public ones."""

from collections.abc import Callable, Sequence
from typing import TypeVar
from uuid import UUID

from booking.adapters import event_codec
from booking.domain.events import DomainEvent
from counseling_shared.events import IntegrationEvent
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork

S = TypeVar("S")
E = TypeVar("E", bound=DomainEvent)


def stream_id(kind: str, ident: UUID) -> str:
    """`appointment-<uuid>`, `client-<uuid>`, …: one stream per aggregate."""
    return f"{kind}-{ident}"


async def record(
    uow: UnitOfWork,
    stream: str,
    state: S | None,
    version: int,
    events: Sequence[E],
    evolve: Callable[[S | None, E], S],
    publish: Callable[[S, E], list[IntegrationEvent]],
    subject: UUID,
) -> S:
    """Append `events` after `version`, fold them into the state and queue public events."""
    await uow.append(stream, version, encode(events))
    return fold(uow, state, events, evolve, publish, subject)


def encode(events: Sequence[E]) -> list[NewEvent]:
    return [event_codec.encode(e) for e in events]


def fold(
    uow: UnitOfWork,
    state: S | None,
    events: Sequence[E],
    evolve: Callable[[S | None, E], S],
    publish: Callable[[S, E], list[IntegrationEvent]],
    subject: UUID,
) -> S:
    """The state after `events`, their public events queued (written at commit)."""
    for event in events:
        state = evolve(state, event)
        for public_event in publish(state, event):
            uow.publish(public_event, subject=subject)
    assert state is not None, "a decision with no events changes nothing"
    return state
