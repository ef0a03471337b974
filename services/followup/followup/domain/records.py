"""How the followup aggregates' events are written to their streams: plain JSON values."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

# The exact types met in the events, looked up before the `isinstance` checks (an event's
# fields are turned into text once or more per event handled, so this is a hot loop).
_AS_TEXT: dict[type, Any] = {datetime: datetime.isoformat, date: date.isoformat, UUID: str}
_AS_IS = frozenset({str, int, bool, float, type(None)})


def plain_fields(event: Any) -> dict[str, Any]:
    """An event dataclass's fields, with instants, dates and ids as strings."""
    data: dict[str, Any] = {}
    for key, value in event.__dict__.items():
        kind = type(value)
        if kind in _AS_IS:
            data[key] = value
        elif (as_text := _AS_TEXT.get(kind)) is not None:
            data[key] = as_text(value)
        elif isinstance(value, date):  # datetime included
            data[key] = value.isoformat()
        elif isinstance(value, UUID):
            data[key] = str(value)
        else:
            data[key] = value
    return data
