"""Alert events to and from event-store rows (JSON), and the policy to and from JSON."""

from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

from counseling_shared.eventstore import NewEvent, RecordedEvent
from crisis.domain.durations import format_duration, parse_duration
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import EVENT_TYPES, AlertEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {cls.__name__: TypeAdapter(cls) for cls in EVENT_TYPES}


def to_stored(event: AlertEvent) -> NewEvent:
    name = type(event).__name__
    return NewEvent(type=name, data=_ADAPTERS[name].dump_python(event, mode="json"))


def from_stored(record: RecordedEvent) -> AlertEvent:
    event: AlertEvent = _ADAPTERS[record.type].validate_python(record.data)
    return event


def policy_levels_json(policy: EscalationPolicy) -> list[dict[str, Any]]:
    return [
        {
            "staff_ids": [str(s) for s in level.staff_ids],
            "ack_timeout": format_duration(level.ack_timeout),
        }
        for level in policy.levels
    ]


def policy_from_json(levels: list[dict[str, Any]], repeat: int) -> EscalationPolicy:
    return EscalationPolicy(
        tuple(
            PolicyLevel(
                tuple(UUID(s) for s in level["staff_ids"]), parse_duration(level["ack_timeout"])
            )
            for level in levels
        ),
        repeat,
    )
