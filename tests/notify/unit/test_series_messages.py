"""One message per recurring series: occurrences naming a series ask for nothing (a fee notice
aside); the series' summary asks for one message listing its first dates."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import CancelledBy, Modality
from counseling_shared.envelope import wrap
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentSeriesBooked,
    AppointmentSeriesCancelled,
    FeeDue,
    IntegrationEvent,
    SeriesOccurrence,
    SkippedOccurrence,
)
from notify.application import handlers
from notify.application.client_messages import ClientMessage
from notify.application.series_messages import SHOWN, shown_dates
from notify.domain.codes import Template

FIRST = datetime(2030, 3, 11, 16, 0, tzinfo=UTC)
SITE, CLIENT = uuid4(), uuid4()


def weekly(count: int) -> list[SeriesOccurrence]:
    return [
        SeriesOccurrence(
            appointment_id=uuid4(),
            start=FIRST + timedelta(weeks=i),
            end=FIRST + timedelta(weeks=i, minutes=50),
        )
        for i in range(count)
    ]


def asked(event: IntegrationEvent) -> list[ClientMessage]:
    messages_of = handlers.APPOINTMENT_MESSAGES[type(event)]
    return messages_of(wrap(event, source="booking", subject=uuid4()), event)


def occurrence(series_id: UUID | None, **extra: Any) -> dict[str, Any]:
    return {
        "appointment_id": uuid4(),
        "site_id": SITE,
        "client_id": CLIENT,
        "counselor_id": uuid4(),
        "room_id": None,
        "start": FIRST,
        "end": FIRST + timedelta(minutes=50),
        "modality": Modality.ONLINE,
        "series_id": series_id,
        **extra,
    }


def series_booked(count: int) -> AppointmentSeriesBooked:
    return AppointmentSeriesBooked(
        series_id=uuid4(),
        site_id=SITE,
        client_id=CLIENT,
        counselor_id=uuid4(),
        room_id=None,
        modality=Modality.ONLINE,
        occurrences=weekly(count),
    )


def series_cancelled(occurrences: list[SeriesOccurrence]) -> AppointmentSeriesCancelled:
    return AppointmentSeriesCancelled(
        series_id=uuid4(),
        site_id=SITE,
        client_id=CLIENT,
        counselor_id=uuid4(),
        room_id=None,
        modality=Modality.ONLINE,
        cancelled_from=FIRST.date(),
        cancelled_by=CancelledBy.CENTER,
        occurrences=occurrences,
    )


def test_an_occurrence_booked_by_a_series_asks_for_no_confirmation_of_its_own() -> None:
    assert asked(AppointmentBooked(**occurrence(uuid4()))) == []


def test_a_single_appointment_keeps_its_confirmation() -> None:
    [message] = asked(AppointmentBooked(**occurrence(None)))

    assert message.template is Template.APPOINTMENT_BOOKED
    assert message.params["start"] == FIRST.isoformat()


def test_an_occurrence_cancelled_with_its_series_keeps_only_its_fee_notice() -> None:
    fee = FeeDue(amount=Decimal("40.00"), currency="EUR")
    by = {"cancelled_by": CancelledBy.CLIENT, "late": True}

    with_series = asked(AppointmentCancelled(**occurrence(uuid4(), fee_due=fee, **by)))
    without_fee = asked(AppointmentCancelled(**occurrence(uuid4(), **by)))
    alone = asked(AppointmentCancelled(**occurrence(None, fee_due=fee, **by)))

    assert [m.template for m in with_series] == [Template.MISSED_SESSION_FEE]
    assert without_fee == []
    assert [m.template for m in alone] == [
        Template.APPOINTMENT_CANCELLED,
        Template.MISSED_SESSION_FEE,
    ]


def test_a_ten_week_series_asks_for_one_confirmation_with_five_dates_and_five_more() -> None:
    event = series_booked(10)

    [message] = asked(event)

    assert (message.template, message.client_id) == (Template.APPOINTMENT_SERIES_BOOKED, CLIENT)
    params = message.params
    assert [o["start"] for o in params["occurrences"]] == [
        o.start.isoformat() for o in event.occurrences[:SHOWN]
    ]
    assert (params["count"], params["more"]) == (10, 5)
    assert params["first_start"] == FIRST.isoformat()
    assert params["last_start"] == (FIRST + timedelta(weeks=9)).isoformat()
    assert params["series_id"] == str(event.series_id)


def test_a_series_that_left_out_closed_dates_names_them_in_its_confirmation() -> None:
    gap = FIRST + timedelta(weeks=1)
    skipped = SkippedOccurrence(
        start=gap, reason="site_closed", closed_on=gap.date(), closure_kind="public_holiday"
    )
    event = series_booked(3).model_copy(update={"skipped_occurrences": [skipped]})

    [message] = asked(event)

    assert message.params["skipped"] == [{"start": gap.isoformat()}]
    assert asked(series_booked(3))[0].params["skipped"] == []


@pytest.mark.parametrize(
    ("count", "listed", "more"), [(2, 2, 0), (6, 6, 0), (7, 5, 2), (52, 5, 47)]
)
def test_a_series_lists_every_date_unless_two_or_more_would_be_left_out(
    count: int, listed: int, more: int
) -> None:
    dates, left_out = shown_dates(list(reversed(weekly(count))))

    assert (len(dates), left_out) == (listed, more)
    assert dates[0]["start"] == FIRST.isoformat()  # in order, whatever order they came in


def test_a_one_occurrence_series_reads_as_an_ordinary_appointment() -> None:
    [booked] = asked(series_booked(1))
    [cancelled] = asked(series_cancelled(weekly(1)))

    assert booked.template is Template.APPOINTMENT_BOOKED
    assert booked.params["start"] == FIRST.isoformat()
    assert cancelled.template is Template.APPOINTMENT_CANCELLED
    assert cancelled.params["cancelled_by"] == "center"


def test_a_series_cancellation_asks_for_one_notice_or_none_when_nothing_was_cancelled() -> None:
    [notice] = asked(series_cancelled(weekly(8)))

    assert notice.template is Template.APPOINTMENT_SERIES_CANCELLED
    assert (notice.params["count"], notice.params["cancelled_by"]) == (8, "center")
    assert asked(series_cancelled([])) == []
