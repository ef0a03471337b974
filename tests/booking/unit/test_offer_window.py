"""When a freed slot may be offered to the waitlist: inside the offer window at once, outside
it at the window's next opening (wall-clock, across DST), never when it starts too soon."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from booking.domain.scheduling.offer_window import OfferWindow, offer_at, worth_a_late_offer
from booking.settings import BookingSettings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAY = OfferWindow.parse("08:00-20:00")
TTL = timedelta(minutes=15)


def _berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_a_slot_freed_inside_the_window_is_offered_at_once() -> None:
    now = _berlin(2030, 6, 4, 10, 0)

    assert offer_at(DAY, BERLIN, now, now + timedelta(days=2), TTL) == now


def test_inside_the_window_a_slot_starting_soon_is_still_offered_as_before() -> None:
    now = _berlin(2030, 6, 4, 19, 59)

    assert offer_at(DAY, BERLIN, now, now + timedelta(minutes=5), TTL) == now
    assert offer_at(DAY, BERLIN, now, now, TTL) is None  # started: never


def test_a_cancellation_at_ten_pm_is_offered_at_eight_the_next_morning() -> None:
    now = _berlin(2030, 6, 4, 22, 0)
    start = _berlin(2030, 6, 5, 14, 0)

    assert offer_at(DAY, BERLIN, now, start, TTL) == _berlin(2030, 6, 5, 8, 0)


def test_the_window_closes_at_its_closing_minute_and_opens_at_its_opening_minute() -> None:
    start = _berlin(2030, 6, 9, 14, 0)

    assert offer_at(DAY, BERLIN, _berlin(2030, 6, 4, 20, 0), start, TTL) == _berlin(
        2030, 6, 5, 8, 0
    )
    early = _berlin(2030, 6, 5, 7, 59)
    assert offer_at(DAY, BERLIN, early, start, TTL) == _berlin(2030, 6, 5, 8, 0)
    opening = _berlin(2030, 6, 5, 8, 0)
    assert offer_at(DAY, BERLIN, opening, start, TTL) == opening


def test_a_slot_starting_before_the_window_opens_is_never_offered() -> None:
    now = _berlin(2030, 6, 4, 22, 0)

    assert offer_at(DAY, BERLIN, now, _berlin(2030, 6, 5, 7, 0), TTL) is None
    assert offer_at(DAY, BERLIN, now, _berlin(2030, 6, 5, 8, 0), TTL) is None


def test_a_slot_with_less_than_an_offers_ttl_left_after_the_opening_is_not_offered() -> None:
    now = _berlin(2030, 6, 4, 22, 0)
    opening = _berlin(2030, 6, 5, 8, 0)

    assert offer_at(DAY, BERLIN, now, opening + TTL - timedelta(seconds=1), TTL) is None
    assert offer_at(DAY, BERLIN, now, opening + TTL, TTL) == opening


def test_a_timer_firing_late_offers_the_slot_only_with_a_whole_ttl_left() -> None:
    start = _berlin(2030, 6, 5, 8, 30)

    assert worth_a_late_offer(start, _berlin(2030, 6, 5, 8, 0), TTL)
    assert worth_a_late_offer(start, _berlin(2030, 6, 5, 8, 15), TTL)
    assert not worth_a_late_offer(start, _berlin(2030, 6, 5, 8, 16), TTL)


def test_the_opening_stays_eight_local_across_the_spring_dst_change() -> None:
    # Clocks go forward on Sunday 31 March 2030 at 02:00 in Berlin: 08:00 is 06:00 UTC, not 07:00.
    now = _berlin(2030, 3, 30, 22, 0)

    opening = offer_at(DAY, BERLIN, now, _berlin(2030, 4, 1, 9, 0), TTL)

    assert opening == datetime(2030, 3, 31, 6, 0, tzinfo=UTC)
    assert opening.astimezone(BERLIN).hour == 8
    assert now.astimezone(UTC).hour == 21  # the evening before was still +01:00


def test_the_opening_stays_eight_local_across_the_autumn_dst_change() -> None:
    # Clocks go back on Sunday 27 October 2030 at 03:00 in Berlin: 08:00 is 07:00 UTC.
    now = _berlin(2030, 10, 26, 23, 30)

    opening = offer_at(DAY, BERLIN, now, _berlin(2030, 10, 28, 9, 0), TTL)

    assert opening == datetime(2030, 10, 27, 7, 0, tzinfo=UTC)


def test_the_night_of_the_dst_change_is_outside_the_window_in_its_repeated_hour() -> None:
    repeated = datetime(2030, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 local, the first time
    assert repeated.astimezone(BERLIN).hour == 2

    assert not DAY.is_open(repeated, BERLIN)
    assert not DAY.is_open(repeated + timedelta(hours=1), BERLIN)  # 02:30, the second time


def test_an_opening_inside_a_dst_gap_comes_once_the_clocks_have_moved() -> None:
    gap = OfferWindow.parse("02:30-20:00")  # 02:30 does not exist on 31 March 2030 in Berlin
    now = _berlin(2030, 3, 30, 22, 0)

    opening = gap.next_opening(now, BERLIN)

    assert opening.astimezone(BERLIN).strftime("%H:%M %z") == "03:30 +0200"
    assert gap.is_open(opening, BERLIN)


def test_the_window_is_read_in_the_sites_zone() -> None:
    now = datetime(2030, 6, 4, 22, 0, tzinfo=UTC)  # 18:00 in New York, midnight in Berlin
    start = now + timedelta(days=3)

    assert offer_at(DAY, NEW_YORK, now, start, TTL) == now
    assert offer_at(DAY, BERLIN, now, start, TTL) == _berlin(2030, 6, 5, 8, 0)


def test_always_offers_at_any_hour() -> None:
    always = OfferWindow.parse("always")
    now = _berlin(2030, 6, 4, 3, 0)

    assert offer_at(always, BERLIN, now, now + timedelta(minutes=1), TTL) == now


@pytest.mark.parametrize("text", ["", "8:00-20:00", "08:00-24:00", "20:00-08:00", "08:00-08:00"])
def test_a_window_that_is_not_one_span_of_one_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM-HH:MM|same day"):
        OfferWindow.parse(text)


def test_the_setting_is_checked_when_the_service_starts() -> None:
    with pytest.raises(ValidationError, match="WAITLIST_OFFER_HOURS"):
        BookingSettings.model_validate({"WAITLIST_OFFER_HOURS": "20:00-08:00"})
    assert BookingSettings().waitlist_offer_hours == "08:00-20:00"
