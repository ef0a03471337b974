"""The backfill's fold of booking's events: each appointment's last booking, or how it ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from counseling_shared.codes import CancelledBy, GoalHorizon, Modality, RiskLevel
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    SessionCompleted,
    SessionMissed,
)
from followup.application.appointment_backfill import Fold
from followup.domain.appointments import AppointmentStatus

START = datetime(2026, 12, 10, 9, tzinfo=UTC)


def _booked(start: datetime = START) -> AppointmentBooked:
    return AppointmentBooked(
        appointment_id=uuid4(),
        site_id=uuid4(),
        client_id=uuid4(),
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(minutes=50),
        modality=Modality.ONLINE,
        manage_url="https://booking.example/m?token=1",
    )


def _moved(booked: AppointmentBooked, days: int) -> AppointmentRescheduled:
    changes = {"start": START + timedelta(days=days), "manage_url": f"https://b.example/{days}"}
    return AppointmentRescheduled(**(booked.model_dump() | changes))


def test_the_last_reschedule_wins_and_names_its_event_as_the_move() -> None:
    fold, booked = Fold(), _booked()
    first, second = uuid4(), uuid4()
    fold.apply(uuid4(), booked)
    fold.apply(first, _moved(booked, 1))
    fold.apply(second, _moved(booked, 2))
    fold.apply(uuid4(), booked)  # a booking seen again changes nothing

    recorded = fold.booked[booked.appointment_id]
    assert (recorded.start, recorded.moved_by) == (START + timedelta(days=2), second)
    assert recorded.manage_url == "https://b.example/2"
    assert recorded.client_id == booked.client_id


def test_an_ended_appointment_stays_ended_and_is_not_booked() -> None:
    fold = Fold()
    cancelled, completed, missed = _booked(), _booked(), _booked()
    for booked in (cancelled, completed, missed):
        fold.apply(uuid4(), booked)
    fold.apply(
        uuid4(),
        AppointmentCancelled(**cancelled.model_dump(), cancelled_by=CancelledBy.CLIENT, late=False),
    )
    fold.apply(uuid4(), _moved(cancelled, 3))  # after its end: ignored, as followup-care does
    ids = {k: v for k, v in cancelled.model_dump().items() if k in ("site_id", "client_id")}
    fold.apply(
        uuid4(),
        SessionCompleted(
            appointment_id=completed.appointment_id,
            counselor_id=completed.counselor_id,
            completed_at=START,
            goal_horizon=GoalHorizon.SHORT_TERM,
            risk_level=RiskLevel.NONE,
            **ids,
        ),
    )
    fold.apply(
        uuid4(),
        SessionMissed(
            appointment_id=missed.appointment_id,
            counselor_id=missed.counselor_id,
            start=START,
            **ids,
        ),
    )

    assert fold.booked == {}
    assert fold.ended == {
        cancelled.appointment_id: AppointmentStatus.CANCELLED,
        completed.appointment_id: AppointmentStatus.COMPLETED,
        missed.appointment_id: AppointmentStatus.NO_SHOW,
    }
