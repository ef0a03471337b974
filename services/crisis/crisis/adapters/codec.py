"""Alert events to and from event-store rows (JSON), and the policy to and from JSON.

Every event crisis stores carries `written_at` in its metadata: the service clock's time of the
write that recorded it, which the projection rows are stamped with (`updated_at`,
`received_at`). The store's own `recorded_at` is the database's clock, so a rebuild reads this.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from counseling_shared.eventstore import NewEvent, RecordedEvent
from crisis.domain.durations import format_duration, parse_duration
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import EVENT_TYPES, AlertEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {cls.__name__: TypeAdapter(cls) for cls in EVENT_TYPES}


def to_stored(event: AlertEvent, *, written_at: datetime) -> NewEvent:
    name = type(event).__name__
    data = _ADAPTERS[name].dump_python(event, mode="json")
    return NewEvent(type=name, data=data, metadata=written_metadata(written_at))


def written_metadata(written_at: datetime) -> dict[str, Any]:
    return {"written_at": written_at.isoformat()}


def written_at(record: RecordedEvent) -> datetime | None:
    """When the service wrote `record` (None for events stored before crisis recorded it)."""
    text = record.metadata.get("written_at")
    return datetime.fromisoformat(text) if text else None


def from_stored(record: RecordedEvent) -> AlertEvent:
    event: AlertEvent = _ADAPTERS[record.type].validate_python(record.data)
    return event


def policy_levels_json(policy: EscalationPolicy) -> list[dict[str, Any]]:
    return [_level_json(level) for level in policy.levels]


def _level_json(level: PolicyLevel) -> dict[str, Any]:
    data: dict[str, Any] = {
        "staff_ids": [str(s) for s in level.staff_ids],
        "schedule_ids": [str(s) for s in level.schedule_ids],
        "ack_timeout": format_duration(level.ack_timeout),
    }
    if level.round_robin:  # absent when false: policies stored before round robin read alike
        data["round_robin"] = True
    if level.call_after is not None:  # absent: notify's PAGE_CALL_DELAY (as before it existed)
        data["call_after"] = format_duration(level.call_after)
    return data


def policy_from_json(
    levels: list[dict[str, Any]],
    repeat: int,
    fallback_staff_ids: Sequence[Any] = (),
    ack_expires_after: str | None = None,
) -> EscalationPolicy:
    return EscalationPolicy(
        tuple(
            PolicyLevel(
                tuple(UUID(s) for s in level["staff_ids"]),
                parse_duration(level["ack_timeout"]),
                tuple(UUID(s) for s in level.get("schedule_ids", [])),  # absent before schedules
                bool(level.get("round_robin", False)),
                parse_duration(level["call_after"]) if level.get("call_after") else None,
            )
            for level in levels
        ),
        repeat,
        tuple(UUID(str(s)) for s in fallback_staff_ids),
        parse_duration(ack_expires_after) if ack_expires_after else None,
    )
