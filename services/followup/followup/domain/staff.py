"""What followup keeps about a staff member: only that booking deactivated them (their staff
key is refused from then on). Recorded as followup's own event so a rebuild finds it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from counseling_shared.stored_ids import parse_uuid


@dataclass(frozen=True)
class StaffDeactivationRecorded:
    site_id: UUID
    deactivated_at: datetime


def staff_stream_id(staff_id: UUID) -> str:
    return f"staff-{staff_id}"


def to_record(event: StaffDeactivationRecorded) -> tuple[str, dict[str, Any]]:
    return "StaffDeactivationRecorded", {
        "site_id": str(event.site_id),
        "deactivated_at": event.deactivated_at.isoformat(),
    }


def from_record(event_type: str, data: dict[str, Any]) -> StaffDeactivationRecorded:
    if event_type != "StaffDeactivationRecorded":
        raise ValueError(f"not a staff event: {event_type}")
    return StaffDeactivationRecorded(
        parse_uuid(data["site_id"]), datetime.fromisoformat(data["deactivated_at"])
    )
