"""Schedules and overrides to and from JSON: event data, projection rows and the API share it."""

from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from crisis.domain.durations import format_duration, parse_duration
from crisis.domain.schedules.aggregate import (
    OverrideAdded,
    OverrideRemoved,
    ScheduleDefined,
    ScheduleEvent,
)
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.restrictions import Restriction, RestrictionDays
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import RunningLayer, Schedule


def layers_json(schedule: Schedule) -> list[dict[str, Any]]:
    return [_layer_json(layer) for layer in schedule.layers]


def _layer_json(layer: Layer) -> dict[str, Any]:
    rotation = layer.rotation
    out: dict[str, Any] = {
        "rotation": {
            "kind": rotation.kind.value,
            "handoff": rotation.handoff.strftime("%H:%M"),
            "start_on": rotation.start_on.isoformat(),
        },
        "participants": [str(s) for s in layer.participants],
        "restrictions": [_restriction_json(r) for r in layer.restrictions],
    }
    if rotation.every is not None:
        out["rotation"]["every"] = format_duration(rotation.every)
    if rotation.handoff_weekday is not None:
        out["rotation"]["handoff_weekday"] = rotation.handoff_weekday
    return out


def _restriction_json(restriction: Restriction) -> dict[str, Any]:
    out: dict[str, Any] = {
        "weekdays": sorted(restriction.weekdays),
        "from": restriction.start.strftime("%H:%M"),
        "to": restriction.end.strftime("%H:%M"),
    }
    if restriction.days is not RestrictionDays.ANY:  # absent: an older event stays the same
        out["days"] = restriction.days.value
    return out


def layers_from_json(layers: list[dict[str, Any]]) -> tuple[Layer, ...]:
    return tuple(_layer_from_json(layer) for layer in layers)


def _layer_from_json(data: dict[str, Any]) -> Layer:
    rotation = data["rotation"]
    every = rotation.get("every")
    return Layer(
        Rotation(
            RotationKind(rotation["kind"]),
            time.fromisoformat(rotation["handoff"]),
            date.fromisoformat(rotation["start_on"]),
            parse_duration(every) if every else None,
            rotation.get("handoff_weekday"),
        ),
        tuple(UUID(s) for s in data["participants"]),
        tuple(
            Restriction(
                frozenset(r["weekdays"]),
                time.fromisoformat(r["from"]),
                time.fromisoformat(r["to"]),
                RestrictionDays(r.get("days", RestrictionDays.ANY)),
            )
            for r in data.get("restrictions", [])
        ),
    )


def running_json(schedule: Schedule) -> list[dict[str, Any]]:
    """The layers an edit keeps until their next handoff (`layer` 1-based, as shifts name it)."""
    return [
        {
            "layer": kept.position + 1,
            "until": kept.until.isoformat(),
            "timezone": kept.timezone,
            "running": None if kept.layer is None else _layer_json(kept.layer),
        }
        for kept in schedule.running
    ]


def running_from_json(data: list[dict[str, Any]]) -> tuple[RunningLayer, ...]:
    return tuple(
        RunningLayer(
            kept["layer"] - 1,
            None if kept["running"] is None else _layer_from_json(kept["running"]),
            kept["timezone"],
            datetime.fromisoformat(kept["until"]),
        )
        for kept in data
    )


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    out = {
        "schedule_id": str(schedule.schedule_id),
        "site_id": str(schedule.site_id),
        "name": schedule.name,
        "timezone": schedule.timezone,
        "layers": layers_json(schedule),
    }
    if schedule.running:  # absent otherwise: a version-1 event stays byte for byte the same
        out["running_layers"] = running_json(schedule)
    return out


def schedule_from_json(data: dict[str, Any]) -> Schedule:
    return Schedule(
        UUID(data["schedule_id"]),
        UUID(data["site_id"]),
        data["name"],
        data["timezone"],
        layers_from_json(data["layers"]),
        running_from_json(data.get("running_layers", [])),
    )


def override_json(override: Override) -> dict[str, Any]:
    return {
        "override_id": str(override.override_id),
        "staff_id": str(override.staff_id),
        "replaces": str(override.replaces) if override.replaces else None,
        "start": override.start.isoformat(),
        "end": override.end.isoformat(),
    }


def override_from_json(data: dict[str, Any]) -> Override:
    return Override(
        UUID(data["override_id"]),
        UUID(data["staff_id"]),
        datetime.fromisoformat(data["start"]),
        datetime.fromisoformat(data["end"]),
        UUID(data["replaces"]) if data.get("replaces") else None,
    )


def event_json(event: ScheduleEvent) -> tuple[str, dict[str, Any]]:
    """(type, data) of a stored schedule event."""
    match event:
        case ScheduleDefined():
            return "ScheduleDefined", schedule_json(event.schedule)
        case OverrideAdded():
            return "OverrideAdded", override_json(event.override)
        case OverrideRemoved():
            return "OverrideRemoved", {"override_id": str(event.override_id)}


def event_from_json(type_: str, data: dict[str, Any], at: datetime) -> ScheduleEvent:
    match type_:
        case "ScheduleDefined":
            return ScheduleDefined(schedule_from_json(data), at)
        case "OverrideAdded":
            return OverrideAdded(override_from_json(data), at)
        case "OverrideRemoved":
            return OverrideRemoved(UUID(data["override_id"]), at)
    raise ValueError(f"unknown schedule event {type_!r}")
