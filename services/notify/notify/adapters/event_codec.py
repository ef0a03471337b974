"""notify's own aggregate events as event-store rows (`NewEvent`): JSON with coded values, and
back (`from_recorded`, for folding a stream again)."""

import dataclasses
from collections.abc import Mapping
from datetime import datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from counseling_shared.eventstore import NewEvent, RecordedEvent
from notify.domain.notification import (
    ChannelFellBack,
    DeliveryAbandoned,
    DeliveryAttempted,
    DeliveryDeferred,
    DeliveryExpedited,
    DeliveryHeld,
    DeliveryReceiptRecorded,
    DeliveryReopened,
    DeliverySucceeded,
    DeliveryWithdrawn,
    FallbackDropped,
    NotificationEvent,
    NotificationRequested,
    RetryScheduled,
)
from notify.domain.preferences import PreferencesSet
from notify.domain.quiet_hours import QuietHours

StoredEvent = NotificationEvent | PreferencesSet

# Stored under their class names (`to_new_event`).
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    cls.__name__: TypeAdapter(cls)
    for cls in (
        NotificationRequested,
        DeliveryHeld,
        DeliveryAttempted,
        RetryScheduled,
        DeliverySucceeded,
        DeliveryAbandoned,
        DeliveryExpedited,
        DeliveryWithdrawn,
        DeliveryDeferred,
        ChannelFellBack,
        DeliveryReceiptRecorded,
        DeliveryReopened,
        FallbackDropped,
        PreferencesSet,
    )
}


def to_new_event(event: Any) -> NewEvent:
    """Store a domain event under its class name."""
    assert dataclasses.is_dataclass(event)
    assert not isinstance(event, type)
    data = {f.name: jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return NewEvent(type=type(event).__name__, data=data)


def jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, QuietHours):
        return {"start": jsonable(value.start), "end": jsonable(value.end)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in an event")


def from_recorded(record: RecordedEvent) -> StoredEvent:
    """The domain event a stored row holds; ValueError for a type notify does not store."""
    adapter = _ADAPTERS.get(record.type)
    if adapter is None:
        raise ValueError(f"unknown notify event type {record.type!r}")
    event: StoredEvent = adapter.validate_python(record.data)
    return event


def from_stored_json(event_type: str, data_json: str) -> StoredEvent:
    """`from_recorded` for the stored JSON text itself: parsed and validated in one pass,
    without the dict `from_recorded` is given (a rebuild's replays, `read_streams_json`)."""
    adapter = _ADAPTERS.get(event_type)
    if adapter is None:
        raise ValueError(f"unknown notify event type {event_type!r}")
    event: StoredEvent = adapter.validate_json(data_json)
    return event
