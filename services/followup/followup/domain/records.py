"""How the followup aggregates' events are written to their streams: plain JSON values."""

from datetime import date
from typing import Any
from uuid import UUID


def plain_fields(event: Any) -> dict[str, Any]:
    """An event dataclass's fields, with instants, dates and ids as strings."""
    data: dict[str, Any] = {}
    for key, value in event.__dict__.items():
        if isinstance(value, date):  # datetime included
            data[key] = value.isoformat()
        elif isinstance(value, UUID):
            data[key] = str(value)
        else:
            data[key] = value
    return data
