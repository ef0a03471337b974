"""The Appointment aggregate's decisions: who may book what, and its status transitions."""

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from booking.domain import appointment
from booking.domain.appointment import (
    Appointment,
    AppointmentStatus,
    BookAppointment,
    CancelAppointment,
    CompleteSession,
    RescheduleAppointment,
)
from booking.domain.errors import InvalidCommand, NotAllowedNow
from counseling_shared.codes import CancelledBy, GoalHorizon, Modality, RiskLevel, StaffRole
from tests.booking.unit.builders import (
    NOW,
    a_client,
    a_room,
    a_site,
    a_staff_member,
    an_appointment,
    fold,
)

SESSION = CompleteSession(GoalHorizon.SHORT_TERM, ("Sleep better",))


def test_booking_sets_the_site_end_and_status() -> None:
    site = a_site()
    counselor, client, room = a_staff_member(site), a_client(site), a_room(site)
    start = NOW + timedelta(days=2)
    command = BookAppointment(
        counselor.id, client.id, start, Modality.IN_PERSON, room_id=room.id, duration_minutes=90
    )

    booked = fold(None, appointment.book(command, uuid4(), counselor, client, room, NOW))

    assert booked.site_id == site.id
    assert booked.status is AppointmentStatus.BOOKED
    assert booked.end == start + timedelta(minutes=90)
    assert booked.version == 1


@pytest.mark.parametrize("role", [StaffRole.COUNSELOR, StaffRole.SUPERVISOR, StaffRole.SITE_LEAD])
def test_clinical_staff_may_hold_sessions(role: StaffRole) -> None:
    site = a_site()
    counselor, client = a_staff_member(site, role), a_client(site)
    command = BookAppointment(counselor.id, client.id, NOW, Modality.ONLINE)

    assert appointment.book(command, uuid4(), counselor, client, None, NOW)


def _refused_fields(error: pytest.ExceptionInfo[InvalidCommand]) -> list[str]:
    return sorted(error.value.errors)


def test_crisis_line_staff_do_not_hold_sessions() -> None:
    site = a_site()
    crisis, client = a_staff_member(site, StaffRole.CRISIS_LINE), a_client(site)
    command = BookAppointment(crisis.id, client.id, NOW, Modality.PHONE)

    with pytest.raises(InvalidCommand) as refused:
        appointment.book(command, uuid4(), crisis, client, None, NOW)

    assert _refused_fields(refused) == ["counselor_id"]


def test_an_in_person_session_needs_a_room_at_the_counselors_site() -> None:
    site, elsewhere = a_site(), a_site()
    counselor, client, far_room = a_staff_member(site), a_client(site), a_room(elsewhere)
    no_room = BookAppointment(counselor.id, client.id, NOW, Modality.IN_PERSON)
    far = BookAppointment(counselor.id, client.id, NOW, Modality.IN_PERSON, room_id=far_room.id)

    with pytest.raises(InvalidCommand) as without:
        appointment.book(no_room, uuid4(), counselor, client, None, NOW)
    with pytest.raises(InvalidCommand) as across:
        appointment.book(far, uuid4(), counselor, client, far_room, NOW)

    assert _refused_fields(without) == _refused_fields(across) == ["room_id"]


def test_unknown_counselor_client_and_room_and_a_bad_length_are_named_together() -> None:
    command = BookAppointment(
        uuid4(), uuid4(), NOW, Modality.IN_PERSON, room_id=uuid4(), duration_minutes=5
    )

    with pytest.raises(InvalidCommand) as refused:
        appointment.book(command, uuid4(), None, None, None, NOW)

    assert _refused_fields(refused) == ["client_id", "counselor_id", "duration_minutes", "room_id"]


def test_a_client_of_another_site_cannot_be_booked_with_this_counselor() -> None:
    counselor, stranger = a_staff_member(a_site()), a_client(a_site())
    command = BookAppointment(counselor.id, stranger.id, NOW, Modality.ONLINE)

    with pytest.raises(InvalidCommand) as refused:
        appointment.book(command, uuid4(), counselor, stranger, None, NOW)

    assert _refused_fields(refused) == ["client_id"]


def test_rescheduling_keeps_length_and_room_unless_told() -> None:
    booked = an_appointment(minutes=80)
    new_start = booked.start + timedelta(days=1)

    moved = fold(
        booked, appointment.reschedule(booked, RescheduleAppointment(new_start), None, NOW)
    )

    assert (moved.start, moved.slot.minutes, moved.room_id) == (new_start, 80, booked.room_id)
    assert moved.version == 2


def test_cancelling_inside_the_window_is_late() -> None:
    booked = an_appointment(start=NOW + timedelta(hours=3))
    command = CancelAppointment("sick", CancelledBy.CLIENT)

    late = fold(booked, appointment.cancel(booked, command, timedelta(hours=24), NOW))
    in_time = fold(booked, appointment.cancel(booked, command, timedelta(hours=2), NOW))

    assert late.status is AppointmentStatus.CANCELLED
    assert late.cancellation is not None
    assert late.cancellation.late
    assert in_time.cancellation is not None
    assert not in_time.cancellation.late


def test_completion_and_no_show_before_the_start_are_refused() -> None:
    booked = an_appointment(start=NOW + timedelta(minutes=1))

    with pytest.raises(NotAllowedNow, match="from its start on"):
        appointment.complete(booked, SESSION, uuid4(), NOW)
    with pytest.raises(NotAllowedNow, match="from its start on"):
        appointment.mark_no_show(booked, NOW)


def test_completion_and_no_show_are_accepted_from_the_start_on() -> None:
    booked = an_appointment(start=NOW)

    completed = fold(booked, appointment.complete(booked, SESSION, uuid4(), NOW))
    missed = fold(booked, appointment.mark_no_show(booked, NOW + timedelta(hours=1)))

    assert completed.status is AppointmentStatus.COMPLETED
    assert completed.session is not None
    assert completed.session.goals == ("Sleep better",)
    assert missed.status is AppointmentStatus.NO_SHOW


Decision = Callable[[Appointment], list[appointment.AppointmentEvent]]


def _cancel(a: Appointment) -> list[appointment.AppointmentEvent]:
    return appointment.cancel(a, CancelAppointment("r", CancelledBy.CENTER), timedelta(), NOW)


def _no_show(a: Appointment) -> list[appointment.AppointmentEvent]:
    return appointment.mark_no_show(a, NOW)


def _complete(a: Appointment) -> list[appointment.AppointmentEvent]:
    return appointment.complete(a, SESSION, uuid4(), NOW)


def _reschedule(a: Appointment) -> list[appointment.AppointmentEvent]:
    return appointment.reschedule(a, RescheduleAppointment(NOW + timedelta(days=3)), None, NOW)


@pytest.mark.parametrize("leave_booked", [_cancel, _no_show, _complete])
@pytest.mark.parametrize("then", [_cancel, _no_show, _complete, _reschedule])
def test_only_a_booked_appointment_can_change(leave_booked: Decision, then: Decision) -> None:
    booked = an_appointment(start=NOW)
    done = fold(booked, leave_booked(booked))

    with pytest.raises(NotAllowedNow, match="only a booked appointment"):
        then(done)


@pytest.mark.parametrize(
    ("level", "flagged"),
    [
        (RiskLevel.NONE, False),
        (RiskLevel.LOW, False),
        (RiskLevel.MODERATE, True),
        (RiskLevel.HIGH, True),
        (RiskLevel.IMMINENT, True),
    ],
)
def test_a_risk_of_moderate_or_above_gets_a_flag(level: RiskLevel, flagged: bool) -> None:
    booked = an_appointment(start=NOW)
    flag_id = uuid4()
    command = CompleteSession(GoalHorizon.LONG_TERM, (), risk_level=level)

    [event] = appointment.complete(booked, command, flag_id, NOW)

    assert isinstance(event, appointment.SessionCompleted)
    assert event.risk_flag_id == (flag_id if flagged else None)


def test_blank_goals_are_refused() -> None:
    booked = an_appointment(start=NOW)

    with pytest.raises(InvalidCommand) as refused:
        appointment.complete(booked, CompleteSession(GoalHorizon.SHORT_TERM, ("  ",)), uuid4(), NOW)

    assert list(refused.value.errors) == ["goals"]
