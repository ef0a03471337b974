"""Every aggregate event survives the trip through the event store's JSON."""

import json
from datetime import date, time, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from booking.adapters import event_codec
from booking.domain import appointment, client, group_series, group_session, room, site, staff
from booking.domain.events import EVENT_TYPES, DomainEvent
from booking.domain.scheduling import closures, deferred, holds, hours, rules, series, waitlist
from counseling_shared.codes import (
    CancelledBy,
    Channel,
    ClosureReason,
    GoalHorizon,
    Modality,
    RiskLevel,
    SeriesSeatCancelCause,
    StaffRole,
)
from counseling_shared.eventstore import RecordedEvent
from tests.booking.unit.builders import NOW

LATER = NOW + timedelta(hours=1)
SAMPLES: list[DomainEvent] = [
    site.SiteRegistered(uuid4(), "Riverside", "Asia/Seoul", "ko", "PT24H", NOW),
    staff.StaffMemberRegistered(
        uuid4(), uuid4(), "Dr. Park", StaffRole.SITE_LEAD, "p@c.example", None, "ko", NOW
    ),
    staff.StaffMemberDeactivated(uuid4(), NOW),
    staff.StaffMemberContactChanged(uuid4(), "Dr. Park", "p@c.example", "+82 10 1234", "en", NOW),
    staff.StaffMemberAnnouncedAgain(uuid4(), NOW),
    room.RoomRegistered(uuid4(), uuid4(), "Room 1", NOW),
    client.ClientRegistered(
        uuid4(), uuid4(), "Kim", None, "+82 10 0000 0000", "ko", "Asia/Seoul", Channel.SMS, NOW
    ),
    client.CareEpisodeClosed(
        uuid4(), 1, ClosureReason.REFERRED, date(2030, 1, 2), client.Referral("a", "b"), NOW
    ),
    client.CareEpisodeOpened(uuid4(), 2, NOW),
    client.ClientContactCorrected(
        uuid4(), "Kim", "k@mail.example", None, "fr", "Europe/Paris", Channel.EMAIL, NOW
    ),
    appointment.AppointmentBooked(
        uuid4(), uuid4(), uuid4(), uuid4(), None, Modality.PHONE, NOW, LATER, NOW
    ),
    appointment.AppointmentRescheduled(uuid4(), uuid4(), LATER, LATER + LATER.resolution, NOW, NOW),
    appointment.AppointmentCancelled(uuid4(), CancelledBy.CENTER, True, "flood", NOW),
    appointment.SessionMarkedNoShow(uuid4(), NOW, rules.Fee(Decimal("40.50"), "EUR")),
    appointment.AppointmentConfirmed(uuid4(), NOW),
    appointment.AppointmentBooked(
        uuid4(),
        uuid4(),
        uuid4(),
        uuid4(),
        uuid4(),
        Modality.IN_PERSON,
        NOW,
        LATER,
        NOW,
        group_session_id=uuid4(),
    ),
    group_session.GroupSessionScheduled(
        uuid4(), uuid4(), uuid4(), uuid4(), Modality.IN_PERSON, NOW, LATER, 12, NOW
    ),
    group_session.GroupSessionRescheduled(uuid4(), None, LATER, LATER + LATER.resolution, NOW, NOW),
    group_session.GroupSessionCancelled(uuid4(), CancelledBy.COUNSELOR, "ill", NOW),
    group_session.GroupCapacityChanged(uuid4(), 8, 5, NOW),
    group_series.GroupSeriesScheduled(
        uuid4(),
        uuid4(),
        uuid4(),
        None,
        Modality.ONLINE,
        6,
        "FREQ=WEEKLY;COUNT=2",
        "Europe/Paris",
        90,
        (uuid4(), uuid4()),
        NOW,
    ),
    group_series.GroupSeriesCancelled(uuid4(), LATER.date(), CancelledBy.CENTER, (uuid4(),), NOW),
    group_series.GroupSeriesSeatTaken(uuid4(), uuid4(), (uuid4(), uuid4()), NOW),
    group_series.GroupSeriesSeatCancelled(
        uuid4(),
        uuid4(),
        LATER.date(),
        CancelledBy.CLIENT,
        SeriesSeatCancelCause.LEFT,
        (uuid4(),),
        NOW,
    ),
    appointment.SessionCompleted(
        uuid4(), NOW, GoalHorizon.LONG_TERM, ("a", "b"), "c", RiskLevel.IMMINENT, uuid4()
    ),
    hours.WorkingHoursSet(
        uuid4(),
        uuid4(),
        (hours.WeeklyPeriod(1, time(9), time(17)),),
        (
            hours.DateException(date(2030, 12, 24), True),
            hours.DateException(date(2030, 12, 27), False, time(10), time(12)),
        ),
        NOW,
    ),
    rules.BookingRulesSet(uuid4(), 10, rules.Fee(Decimal("12.00"), "KRW"), NOW),
    closures.SiteClosuresSet(
        uuid4(),
        (
            closures.Closure(
                date(2030, 1, 1), date(2030, 1, 2), closures.ClosureKind.PUBLIC_HOLIDAY, "New Year"
            ),
            closures.Closure(date(2030, 2, 3), date(2030, 2, 3), closures.ClosureKind.TRAINING),
        ),
        NOW,
    ),
    holds.HoldPlaced(
        uuid4(), uuid4(), uuid4(), None, uuid4(), Modality.IN_PERSON, NOW, LATER, NOW, LATER
    ),
    holds.HoldPlaced(
        uuid4(), uuid4(), uuid4(), uuid4(), None, Modality.ONLINE, NOW, LATER, NOW, LATER, uuid4()
    ),
    holds.HoldReleased(uuid4(), holds.ReleaseReason.BOOKED, NOW, uuid4()),
    series.SeriesBooked(
        uuid4(),
        uuid4(),
        uuid4(),
        uuid4(),
        None,
        Modality.ONLINE,
        "FREQ=WEEKLY;COUNT=2",
        "Europe/Paris",
        50,
        (uuid4(), uuid4()),
        NOW,
    ),
    series.SeriesCancelled(uuid4(), date(2030, 4, 1), CancelledBy.CLIENT, (uuid4(),), NOW),
    waitlist.WaitlistJoined(
        uuid4(), uuid4(), uuid4(), None, Modality.PHONE, NOW, LATER, (1, 3), NOW
    ),
    waitlist.WaitlistJoined(
        uuid4(), uuid4(), uuid4(), None, None, None, None, None, NOW, group_session_id=uuid4()
    ),
    waitlist.WaitlistEntryBooked(uuid4(), uuid4(), NOW),
    waitlist.WaitlistOfferMade(
        uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), NOW, LATER, NOW, LATER
    ),
    waitlist.WaitlistOfferMade(
        uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), uuid4(), NOW, LATER, NOW, LATER, uuid4()
    ),
    waitlist.WaitlistOfferAccepted(uuid4(), uuid4(), NOW),
    waitlist.WaitlistOfferExpired(uuid4(), NOW),
    waitlist.WaitlistOfferDeclined(uuid4(), NOW),
    waitlist.WaitlistOfferWithdrawn(uuid4(), NOW),
    waitlist.WaitlistEntryWithdrawn(uuid4(), waitlist.WithdrawReason.BOOKED_ELSEWHERE, NOW),
    waitlist.WaitlistEntryClosed(uuid4(), waitlist.CloseReason.CLIENT_ERASED, NOW),
    deferred.FreedSlotDeferred(
        uuid4(), uuid4(), uuid4(), None, Modality.ONLINE, LATER, LATER, NOW, LATER
    ),
    deferred.FreedSlotDeferred(
        uuid4(), uuid4(), uuid4(), None, Modality.ONLINE, LATER, LATER, NOW, LATER, uuid4()
    ),
    deferred.DeferredSlotReleased(uuid4(), LATER),
]


def test_the_samples_cover_every_stored_event_type() -> None:
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_event_reads_back_as_it_was_written(event: DomainEvent) -> None:
    stored = event_codec.encode(event)
    recorded = RecordedEvent(1, stored.id, "s-1", 1, stored.type, stored.data, {}, NOW, 1)

    assert event_codec.decode(recorded) == event
    # From the stored JSON text too (a rebuild's replays), as jsonb prints it.
    text = json.dumps(stored.data, separators=(", ", ": "))
    assert event_codec.decode_json(stored.type, text) == event


def test_an_unknown_stored_type_is_an_error() -> None:
    recorded = RecordedEvent(1, uuid4(), "s-1", 1, "Teleported", {}, {}, NOW, 1)

    with pytest.raises(ValueError, match="Teleported"):
        event_codec.decode(recorded)
    with pytest.raises(ValueError, match="Teleported"):
        event_codec.decode_json("Teleported", "{}")
