"""The client's confirm-or-cancel link and page, decided purely: confirming, the terms a
cancellation shows before it is made, and the link each booking or reschedule publishes."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from booking.application import manage_links, publishing
from booking.application.manage_links import MANAGE_PURPOSE, ManageLinks, for_this_start
from booking.domain import appointment
from booking.domain.appointment import CancelAppointment, RescheduleAppointment
from booking.domain.errors import NotAllowedNow
from booking.domain.manage import (
    Announced,
    FeeNotAnnounced,
    Manageable,
    as_announced,
    cancellation_terms,
    charges_unannounced,
    manageable,
)
from booking.domain.scheduling.rules import Fee
from counseling_shared import events as public
from counseling_shared.codes import CancelledBy
from counseling_shared.links import LinkSigner
from tests.booking.unit.builders import NOW, an_appointment, fold

FEE = Fee(Decimal("40.00"), "EUR")
WINDOW = timedelta(hours=24)
LINKS = ManageLinks(LinkSigner("a-test-key"), "https://booking.example/")


def test_a_confirmation_is_recorded_once() -> None:
    booked = an_appointment(start=NOW + timedelta(days=2))

    [confirmed] = appointment.confirm(booked, NOW)
    state = fold(booked, [confirmed])

    assert state.confirmed_at == NOW
    assert appointment.confirm(state, NOW + timedelta(minutes=1)) == []  # pressed again


def test_a_reschedule_clears_the_confirmation_of_the_old_time() -> None:
    booked = an_appointment(start=NOW + timedelta(days=2))
    confirmed = fold(booked, appointment.confirm(booked, NOW))

    moved = fold(
        confirmed,
        appointment.reschedule(
            confirmed, RescheduleAppointment(NOW + timedelta(days=3)), None, NOW
        ),
    )

    assert moved.confirmed_at is None


def test_no_confirmation_once_started_or_cancelled() -> None:
    booked = an_appointment(start=NOW + timedelta(days=1))
    with pytest.raises(NotAllowedNow):
        appointment.confirm(booked, booked.start)
    cancelled = fold(
        booked,
        appointment.cancel(booked, CancelAppointment("ill", CancelledBy.CLIENT), WINDOW, NOW),
    )
    with pytest.raises(NotAllowedNow):
        appointment.confirm(cancelled, NOW)
    assert manageable(cancelled, NOW) is Manageable.CANCELLED
    assert manageable(booked, booked.start) is Manageable.OVER
    assert manageable(booked, NOW) is Manageable.OPEN


def test_inside_the_window_the_terms_say_late_with_the_sites_fee() -> None:
    booked = an_appointment(start=NOW + timedelta(hours=5))

    terms = cancellation_terms(booked, WINDOW, FEE, NOW)

    assert terms.late
    assert terms.fee == FEE
    assert terms.late_from == booked.start - WINDOW
    # ...and the cancellation records what the page said.
    [cancelled] = appointment.cancel(
        booked, CancelAppointment("x", CancelledBy.CLIENT), WINDOW, NOW, FEE
    )
    assert isinstance(cancelled, appointment.AppointmentCancelled)
    assert cancelled.late
    assert cancelled.fee_due == FEE


def test_before_the_window_no_fee_is_shown() -> None:
    booked = an_appointment(start=NOW + timedelta(days=3))

    terms = cancellation_terms(booked, WINDOW, FEE, NOW)

    assert not terms.late
    assert terms.fee is None


def test_a_window_that_closed_after_the_page_was_shown_asks_again() -> None:
    booked = an_appointment(start=NOW + timedelta(hours=24, minutes=1))
    shown = cancellation_terms(booked, WINDOW, FEE, NOW)
    pressed = cancellation_terms(booked, WINDOW, FEE, NOW + timedelta(minutes=2))

    assert not shown.late
    assert charges_unannounced(pressed.late, pressed.fee, None)
    assert not charges_unannounced(pressed.late, pressed.fee, Announced(FEE))
    assert not charges_unannounced(shown.late, shown.fee, None)


def test_a_cancellations_own_events_are_refused_unless_their_fee_was_announced() -> None:
    """The check inside the cancellation's transaction (the page's and a text reply's)."""
    booked = an_appointment(start=NOW + timedelta(hours=10))
    by_client = CancelAppointment("from the page", CancelledBy.CLIENT)
    raised = Fee(Decimal("60.00"), "EUR")
    late = appointment.cancel(booked, by_client, WINDOW, NOW, raised)

    for announced in (Announced(FEE), Announced(None), Announced(Fee(raised.amount, "USD")), None):
        with pytest.raises(FeeNotAnnounced) as refused:
            as_announced(announced)(late)
        assert refused.value.fee == raised
    as_announced(Announced(Fee(Decimal("60"), "EUR")))(late)  # the same amount
    as_announced(Announced(FEE))(appointment.cancel(booked, by_client, WINDOW, NOW, None))
    early = an_appointment(start=NOW + timedelta(days=3))
    as_announced(None)(appointment.cancel(early, by_client, WINDOW, NOW, FEE))
    with pytest.raises(FeeNotAnnounced):  # late with no fee, shown as not late
        as_announced(None)(appointment.cancel(booked, by_client, WINDOW, NOW, None))


def test_the_link_opens_this_appointment_until_its_start_only() -> None:
    booked = an_appointment(start=NOW + timedelta(days=2))
    url = LINKS.url_for(booked)

    parts = urlsplit(url)
    assert parts.path == f"/appointments/{booked.id}/manage"
    [token] = parse_qs(parts.query)["token"]
    link = LINKS.signer.verify(token, MANAGE_PURPOSE, now=NOW)
    assert link.subject == str(booked.id)
    assert link.person == str(booked.client_id)
    assert link.expires_at == booked.start
    assert for_this_start(link, booked)
    moved = fold(
        booked,
        appointment.reschedule(booked, RescheduleAppointment(NOW + timedelta(days=4)), None, NOW),
    )
    assert not for_this_start(link, moved)  # the reschedule's message has a new one


def test_a_booking_and_a_reschedule_publish_the_link_a_cancellation_not() -> None:
    booked = an_appointment(start=NOW + timedelta(days=2))
    event = appointment.AppointmentBooked(
        booked.id,
        booked.site_id,
        booked.client_id,
        booked.counselor_id,
        None,
        booked.modality,
        booked.start,
        booked.end,
        NOW,
    )
    [outside] = publishing.appointment_events(booked, event)  # a rebuild mints nothing
    assert isinstance(outside, public.AppointmentBooked)
    assert outside.manage_url is None
    with manage_links.minting(LINKS):
        [out] = publishing.appointment_events(booked, event)
        [cancelled_event] = appointment.cancel(
            booked, CancelAppointment("x", CancelledBy.CENTER), WINDOW, NOW
        )
        [cancelled_out] = publishing.appointment_events(
            fold(booked, [cancelled_event]), cancelled_event
        )
    assert isinstance(out, public.AppointmentBooked)
    assert out.manage_url is not None
    assert f"/appointments/{booked.id}/manage" in out.manage_url
    assert isinstance(cancelled_out, public.AppointmentCancelled)
    assert cancelled_out.manage_url is None


def test_a_confirmation_publishes_ids_and_times_only() -> None:
    booked = an_appointment(start=NOW + timedelta(days=2))
    [event] = appointment.confirm(booked, NOW)

    [out] = publishing.appointment_events(fold(booked, [event]), event)

    assert isinstance(out, public.AppointmentConfirmed)
    assert set(out.model_dump()) == {
        "appointment_id",
        "site_id",
        "client_id",
        "counselor_id",
        "start",
        "confirmed_at",
    }
    assert out.confirmed_at == NOW
    assert out.appointment_id == booked.id
