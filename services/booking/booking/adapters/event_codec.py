"""Aggregate events to and from the event store's JSON (`events.data`)."""

from typing import Any

from pydantic import TypeAdapter

from booking.domain.events import EVENT_TYPES, DomainEvent
from counseling_shared.eventstore import NewEvent, RecordedEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(cls) for name, cls in EVENT_TYPES.items()
}


def encode(event: DomainEvent, metadata: dict[str, Any] | None = None) -> NewEvent:
    name = type(event).__name__
    data = _ADAPTERS[name].dump_python(event, mode="json")
    return NewEvent(type=name, data=data, metadata=metadata or {})


def decode(recorded: RecordedEvent) -> DomainEvent:
    adapter = _ADAPTERS.get(recorded.type)
    if adapter is None:
        raise ValueError(f"unknown stored event type {recorded.type!r}")
    event: DomainEvent = adapter.validate_python(recorded.data)
    return event


def decode_json(event_type: str, data_json: str) -> DomainEvent:
    """`decode` of the stored JSON text itself: parsed and validated in one pass, without
    the dict `decode` is given (a rebuild's replays, `read_streams_json`)."""
    adapter = _ADAPTERS.get(event_type)
    if adapter is None:
        raise ValueError(f"unknown stored event type {event_type!r}")
    event: DomainEvent = adapter.validate_json(data_json)
    return event
