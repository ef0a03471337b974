"""The client's appointments as booking reported them, kept so reminders can be planned again.

A pause withdraws a client's reminders (contract: `paused` emits nothing); resuming, and
re-engaging after a closure, plan the reminders of the appointments still booked and still
ahead. booking's appointment events are recorded as followup's own (streams
`appointment-<id>`), so `counselctl rebuild` finds them. Pure: decide, evolve, records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from counseling_shared.fast_replace import replace
from counseling_shared.stored_ids import parse_uuid
from followup.domain.durations import CalendarDuration, add_in_zone
from followup.domain.followup import CancelReason, FollowUp, Status


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class AppointmentRecorded:
    """Booked, or moved (`moved_by`: the reschedule's event id, as its reminders' ids use)."""

    client_id: UUID
    site_id: UUID
    counselor_id: UUID
    start: datetime
    moved_by: UUID | None = None
    manage_url: str | None = None  # booking's signed confirm-or-cancel link (its reminders')


@dataclass(frozen=True)
class AppointmentEnded:
    status: AppointmentStatus


Event = AppointmentRecorded | AppointmentEnded


@dataclass(frozen=True)
class Appointment:
    appointment_id: UUID
    client_id: UUID
    site_id: UUID
    counselor_id: UUID
    start: datetime
    status: AppointmentStatus
    version: int
    moved_by: UUID | None = None
    manage_url: str | None = None

    @property
    def stream_id(self) -> str:
        return stream_id(self.appointment_id)


def stream_id(appointment_id: UUID) -> str:
    return f"appointment-{appointment_id}"


def book(state: Appointment | None, recorded: AppointmentRecorded) -> list[Event]:
    """A booking is recorded once (a redelivery, or one seen after its reschedule: nothing)."""
    return [] if state is not None else [recorded]


def move(state: Appointment | None, recorded: AppointmentRecorded) -> list[Event]:
    """A reschedule of a booked (or never seen) appointment; an ended one stays ended."""
    if state is not None and state.status is not AppointmentStatus.BOOKED:
        return []
    if state is not None and (state.start, state.moved_by, state.manage_url) == (
        recorded.start,
        recorded.moved_by,
        recorded.manage_url,
    ):
        return []  # redelivered
    return [recorded]


def end(state: Appointment | None, status: AppointmentStatus) -> list[Event]:
    """Cancelled, completed or missed: once. An appointment never seen needs no record (it
    will never be reminded)."""
    if state is None or state.status is not AppointmentStatus.BOOKED:
        return []
    return [AppointmentEnded(status)]


def evolve(state: Appointment | None, appointment_id: UUID, event: Event) -> Appointment:
    if isinstance(event, AppointmentRecorded):
        return Appointment(
            appointment_id,
            event.client_id,
            event.site_id,
            event.counselor_id,
            event.start,
            AppointmentStatus.BOOKED,
            (state.version if state else 0) + 1,
            event.moved_by,
            event.manage_url,
        )
    assert state is not None, "an appointment ends after it was recorded"
    return replace(state, status=event.status, version=state.version + 1)


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    if isinstance(event, AppointmentEnded):
        return "AppointmentEnded", {"status": event.status.value}
    return "AppointmentRecorded", {
        "client_id": str(event.client_id),
        "site_id": str(event.site_id),
        "counselor_id": str(event.counselor_id),
        "start": event.start.isoformat(),
        "moved_by": str(event.moved_by) if event.moved_by else None,
        "manage_url": event.manage_url,
    }


def from_record(event_type: str, data: dict[str, Any]) -> Event:
    if event_type == "AppointmentRecorded":
        return AppointmentRecorded(
            parse_uuid(data["client_id"]),
            parse_uuid(data["site_id"]),
            parse_uuid(data["counselor_id"]),
            datetime.fromisoformat(data["start"]),
            parse_uuid(data["moved_by"]) if data.get("moved_by") else None,
            data.get("manage_url"),
        )
    if event_type == "AppointmentEnded":
        return AppointmentEnded(AppointmentStatus(data["status"]))
    raise ValueError(f"unknown appointment event type {event_type!r}")


# --- which reminders to plan again ---------------------------------------------------------


def reminders_ahead(
    appointments: Iterable[Appointment],
    offsets: Sequence[CalendarDuration],
    zone: ZoneInfo,
    now: datetime,
) -> list[tuple[Appointment, CalendarDuration, datetime]]:
    """(appointment, offset, due) of every reminder of a booked appointment still ahead whose
    moment has not passed, as a booking would plan them now (same wall-clock rule)."""
    planned = []
    for appointment in sorted(appointments, key=lambda a: (a.start, a.appointment_id)):
        if appointment.status is not AppointmentStatus.BOOKED or appointment.start <= now:
            continue
        for offset in offsets:
            due = add_in_zone(appointment.start, offset.times(-1), zone)
            if due > now:
                planned.append((appointment, offset, due))
    return planned


# Withdrawn only for a while: planned again (under the next id of its chain) when it returns.
_WITHDRAWN_FOR_A_WHILE = frozenset({CancelReason.PAUSED, CancelReason.EPISODE_CLOSED})


class Slot(StrEnum):
    FREE = "free"  # no follow-up has this id: plan it under it
    TAKEN = "taken"  # this reminder is open, sent or ended for good: plan nothing
    NEXT = "next"  # withdrawn by a pause or a closure: try the next id of the chain


def slot(state: FollowUp | None) -> Slot:
    """What a reminder id's follow-up says about planning that reminder again. A cancelled
    follow-up stays cancelled, so a reminder withdrawn by a pause is planned again under a new
    id derived from the withdrawn one (deterministic: a retried resume finds it open)."""
    if state is None:
        return Slot.FREE
    if state.status is Status.CANCELLED and state.cancel_reason in _WITHDRAWN_FOR_A_WHILE:
        return Slot.NEXT
    return Slot.TAKEN
