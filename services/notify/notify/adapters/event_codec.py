"""notify's own aggregate events as event-store rows (`NewEvent`): JSON with coded values."""

import dataclasses
from collections.abc import Mapping
from datetime import datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

from counseling_shared.eventstore import NewEvent
from notify.domain.quiet_hours import QuietHours


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
