"""Which catalog events booking's aggregate events become, and what they leave out."""

from datetime import date, timedelta
from uuid import uuid4

from booking.application import publishing
from booking.domain import appointment, client
from booking.domain.appointment import CancelAppointment, CompleteSession
from booking.domain.client import CloseCareEpisode, Referral
from counseling_shared import events as public
from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    GoalHorizon,
    RiskLevel,
    RiskSource,
)
from tests.booking.unit.builders import NOW, a_site, an_appointment, fold

SECRETS = ("Kim Secret", "kim@private.example", "+82 10 1111 2222", "my divorce", "Dr. Lee")


def test_client_registration_publishes_no_name_or_contact_detail() -> None:
    at = a_site()
    command = client.RegisterClient(
        at.id, SECRETS[0], Channel.SMS, email=SECRETS[1], phone=SECRETS[2]
    )
    [event] = client.register(command, at, uuid4(), NOW)
    state = client.evolve(None, event)

    [out] = publishing.client_events(state, event)

    assert isinstance(out, public.ClientRegistered)
    text = out.model_dump_json()
    assert not any(secret in text for secret in SECRETS)
    assert out.preferred_channel is Channel.SMS


def test_an_episode_closure_says_referred_but_not_to_whom() -> None:
    at = a_site()
    command = client.RegisterClient(at.id, "Kim", Channel.EMAIL, email="k@mail.example")
    registered = client.evolve(None, client.register(command, at, uuid4(), NOW)[0])
    close = CloseCareEpisode(ClosureReason.REFERRED, date(2030, 4, 1), Referral(SECRETS[4], "x"))
    [event] = client.close_episode(registered, close, NOW)

    [out] = publishing.client_events(client.evolve(registered, event), event)

    assert isinstance(out, public.CareEpisodeClosed)
    assert out.referred is True
    assert SECRETS[4] not in out.model_dump_json()


def test_a_cancellation_carries_the_booked_fields_but_not_the_reason() -> None:
    booked = an_appointment(start=NOW + timedelta(hours=1))
    [event] = appointment.cancel(
        booked, CancelAppointment(SECRETS[3], CancelledBy.CLIENT), timedelta(hours=24), NOW
    )

    [out] = publishing.appointment_events(fold(booked, [event]), event)

    assert isinstance(out, public.AppointmentCancelled)
    assert (out.late, out.start, out.end) == (True, booked.start, booked.end)
    assert SECRETS[3] not in out.model_dump_json()


def test_a_risky_session_publishes_completion_then_a_risk_flag_without_goals() -> None:
    booked = an_appointment(start=NOW)
    flag_id = uuid4()
    command = CompleteSession(GoalHorizon.SHORT_TERM, (SECRETS[3],), "call Dr. Lee", RiskLevel.HIGH)
    [event] = appointment.complete(booked, command, flag_id, NOW)

    completed, flagged = publishing.appointment_events(fold(booked, [event]), event)

    assert isinstance(completed, public.SessionCompleted)
    assert isinstance(flagged, public.RiskFlagged)
    assert (flagged.flag_id, flagged.level, flagged.source) == (
        flag_id,
        RiskLevel.HIGH,
        RiskSource.BOOKING,
    )
    assert flagged.client_id == booked.client_id
    text = completed.model_dump_json() + flagged.model_dump_json()
    assert SECRETS[3] not in text
    assert "Dr. Lee" not in text


def test_a_calm_session_publishes_only_its_completion() -> None:
    booked = an_appointment(start=NOW)
    [event] = appointment.complete(
        booked, CompleteSession(GoalHorizon.LONG_TERM, (), risk_level=RiskLevel.LOW), uuid4(), NOW
    )

    published = publishing.appointment_events(fold(booked, [event]), event)

    assert [type(e) for e in published] == [public.SessionCompleted]
