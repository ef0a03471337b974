"""One message per client's seats in a recurring group: seats naming a group series ask for
nothing (a fee notice aside); the client's summary asks for one message listing the first
dates; a seat taken alone keeps its own confirmation."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import CancelledBy, Modality, SeriesSeatCancelCause
from counseling_shared.envelope import wrap
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    FeeDue,
    GroupSeriesSeat,
    GroupSessionSeriesSeatCancelled,
    GroupSessionSeriesSeatTaken,
    IntegrationEvent,
)
from notify.application import handlers
from notify.application.client_messages import ClientMessage
from notify.domain.codes import Template

FIRST = datetime(2030, 5, 6, 15, 0, tzinfo=UTC)
SITE, CLIENT, SERIES = uuid4(), uuid4(), uuid4()


def weekly(count: int) -> list[GroupSeriesSeat]:
    return [
        GroupSeriesSeat(
            appointment_id=uuid4(),
            group_session_id=uuid4(),
            start=FIRST + timedelta(weeks=i),
            end=FIRST + timedelta(weeks=i, minutes=90),
        )
        for i in range(count)
    ]


def asked(event: IntegrationEvent) -> list[ClientMessage]:
    messages_of = handlers.APPOINTMENT_MESSAGES[type(event)]
    return messages_of(wrap(event, source="booking", subject=uuid4()), event)


def seat(group_series_id: UUID | None, **extra: Any) -> dict[str, Any]:
    return {
        "appointment_id": uuid4(),
        "site_id": SITE,
        "client_id": CLIENT,
        "counselor_id": uuid4(),
        "room_id": None,
        "start": FIRST,
        "end": FIRST + timedelta(minutes=90),
        "modality": Modality.ONLINE,
        "group_session_id": uuid4(),
        "group_series_id": group_series_id,
        **extra,
    }


def seat_fields() -> dict[str, Any]:
    return {
        "group_series_id": SERIES,
        "site_id": SITE,
        "client_id": CLIENT,
        "counselor_id": uuid4(),
        "room_id": None,
        "modality": Modality.ONLINE,
    }


def taken(count: int) -> GroupSessionSeriesSeatTaken:
    return GroupSessionSeriesSeatTaken(**seat_fields(), occurrences=weekly(count))


def cancelled(
    occurrences: list[GroupSeriesSeat],
    cause: SeriesSeatCancelCause = SeriesSeatCancelCause.LEFT,
    by: CancelledBy = CancelledBy.CLIENT,
) -> GroupSessionSeriesSeatCancelled:
    return GroupSessionSeriesSeatCancelled(
        **seat_fields(),
        cancelled_from=FIRST.date(),
        cancelled_by=by,
        cause=cause,
        occurrences=occurrences,
    )


def test_a_seat_taken_by_a_group_series_asks_for_no_confirmation_of_its_own() -> None:
    assert asked(AppointmentBooked(**seat(SERIES))) == []


def test_a_seat_taken_alone_keeps_its_confirmation() -> None:
    [message] = asked(AppointmentBooked(**seat(None)))

    assert message.template is Template.APPOINTMENT_BOOKED
    assert message.params["start"] == FIRST.isoformat()


def test_a_seat_given_up_with_its_series_keeps_only_its_fee_notice() -> None:
    fee = FeeDue(amount=Decimal("40.00"), currency="EUR")
    by = {"cancelled_by": CancelledBy.CLIENT, "late": True}

    with_series = asked(AppointmentCancelled(**seat(SERIES, fee_due=fee, **by)))
    without_fee = asked(AppointmentCancelled(**seat(SERIES, **by)))
    alone = asked(AppointmentCancelled(**seat(None, **by)))

    assert [m.template for m in with_series] == [Template.MISSED_SESSION_FEE]
    assert without_fee == []
    assert [m.template for m in alone] == [Template.APPOINTMENT_CANCELLED]


def test_a_six_week_seat_asks_for_one_confirmation_listing_every_date() -> None:
    event = taken(6)

    [message] = asked(event)

    assert (message.template, message.client_id) == (Template.GROUP_SERIES_SEAT_TAKEN, CLIENT)
    params = message.params
    assert [o["start"] for o in params["occurrences"]] == [
        o.start.isoformat() for o in event.occurrences
    ]
    assert (params["count"], params["more"]) == (6, 0)
    assert params["first_start"] == FIRST.isoformat()
    assert params["last_start"] == (FIRST + timedelta(weeks=5)).isoformat()
    assert params["group_series_id"] == str(SERIES)


def test_a_twelve_week_seat_lists_five_dates_and_seven_more() -> None:
    [message] = asked(taken(12))

    assert (len(message.params["occurrences"]), message.params["more"]) == (5, 7)


@pytest.mark.parametrize(
    ("cause", "by"),
    [
        (SeriesSeatCancelCause.LEFT, CancelledBy.CLIENT),
        (SeriesSeatCancelCause.LEFT, CancelledBy.COUNSELOR),
        (SeriesSeatCancelCause.SERIES_CANCELLED, CancelledBy.CENTER),
    ],
)
def test_seats_given_up_together_ask_for_one_notice_saying_why(
    cause: SeriesSeatCancelCause, by: CancelledBy
) -> None:
    [notice] = asked(cancelled(weekly(6), cause, by))

    assert notice.template is Template.GROUP_SERIES_SEAT_CANCELLED
    assert (notice.params["count"], notice.params["more"]) == (6, 0)
    assert (notice.params["cause"], notice.params["cancelled_by"]) == (cause.value, by.value)


def test_one_seat_reads_as_an_ordinary_appointment_and_none_asks_for_nothing() -> None:
    [booked] = asked(taken(1))
    [notice] = asked(cancelled(weekly(1), SeriesSeatCancelCause.SERIES_CANCELLED))

    assert booked.template is Template.APPOINTMENT_BOOKED
    assert booked.params["start"] == FIRST.isoformat()
    assert notice.template is Template.APPOINTMENT_CANCELLED
    assert notice.params["cancelled_by"] == "client"
    assert asked(taken(0)) == []
    assert asked(cancelled([])) == []
