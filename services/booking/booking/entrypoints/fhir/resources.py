"""booking's records as FHIR R4 resources (JSON), with identifiers only: no names, no notes.

- Appointment: status `booked`, `cancelled`, `noshow` or `fulfilled`; participants
  `Patient/{client_id}`, `Practitioner/{counselor_id}` and, in person, `Location/{room_id}`.
- Schedule: one per staff member who holds sessions (`Schedule/{staff_id}`), its actor the
  practitioner.
- Slot: the time a session takes in its counselor's schedule (`busy`), one per appointment
  that was not cancelled, with the appointment's id; and, when asked for, the bookable time
  of the counselor's working hours (`free`), as `GET /availability` finds it.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.scheduling.availability import FreeSlot
from booking.domain.staff import StaffMember

FHIR_JSON = "application/fhir+json"
MODALITY_SYSTEM = "urn:counseling-suite:modality"

APPOINTMENT_STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
    AppointmentStatus.COMPLETED: "fulfilled",
}


def _instant(at: datetime) -> str:
    return at.isoformat()


def appointment(a: Appointment) -> dict[str, Any]:
    participants = [
        {"actor": {"reference": f"Patient/{a.client_id}"}, "status": "accepted"},
        {"actor": {"reference": f"Practitioner/{a.counselor_id}"}, "status": "accepted"},
    ]
    if a.room_id is not None:
        participants.append({"actor": {"reference": f"Location/{a.room_id}"}, "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(a.id),
        "meta": {"versionId": str(a.version)},
        "status": APPOINTMENT_STATUS[a.status],
        "appointmentType": {
            "coding": [{"system": MODALITY_SYSTEM, "code": a.modality.value}],
            "text": a.modality.value,
        },
        "start": _instant(a.start),
        "end": _instant(a.end),
        "minutesDuration": a.slot.minutes,
        "created": _instant(a.booked_at),
        "participant": participants,
    }
    if a.status is not AppointmentStatus.CANCELLED:
        resource["slot"] = [{"reference": f"Slot/{a.id}"}]
    return resource


def slot(a: Appointment) -> dict[str, Any]:
    """A session's time: a busy slot with the appointment's id."""
    return _slot(a.id, a.counselor_id, "busy", a.start, a.end)


def free_slot(f: FreeSlot) -> dict[str, Any]:
    """A bookable time: a free slot whose id is derived from the counselor and the time."""
    return _slot(free_slot_id(f), f.counselor_id, "free", f.start, f.end)


def free_slot_id(f: FreeSlot) -> UUID:
    # Stable across searches and pages (the cursor orders by it), without storing free time.
    return uuid5(_FREE_SLOTS, f"{f.counselor_id}/{f.start.isoformat()}/{f.end.isoformat()}")


_FREE_SLOTS = UUID("6f1f3f0e-5a43-4b8e-9a39-2c1d7f0b9e51")


def _slot(
    slot_id: UUID, counselor_id: UUID, status: str, start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": str(slot_id),
        "schedule": {"reference": f"Schedule/{counselor_id}"},
        "status": status,
        "start": _instant(start),
        "end": _instant(end),
    }


def schedule(member: StaffMember) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": str(member.id),
        "active": member.active,
        "actor": [{"reference": f"Practitioner/{member.id}"}],
        "comment": f"Sessions of practitioner {member.id} at site {member.site_id}",
    }


def searchset(
    resources: Sequence[dict[str, Any]],
    base: str,
    self_url: str,
    next_url: str | None,
    total: int | None,
) -> dict[str, Any]:
    """A `searchset` Bundle; `next_url` when more matches follow, `total` when known."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    if total is not None:
        bundle["total"] = total
    return bundle
