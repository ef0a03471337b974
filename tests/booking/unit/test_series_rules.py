"""The RRULE subset: wall-clock time kept across DST, the 52 cap, and clear refusals."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from booking.domain.errors import InvalidCommand
from booking.domain.scheduling.series import occurrences

PARIS = ZoneInfo("Europe/Paris")


def test_a_weekly_series_keeps_five_pm_local_across_the_spring_dst_change() -> None:
    first = datetime(2030, 3, 18, 17, 0, tzinfo=PARIS)  # clocks go forward on 31 March

    starts = occurrences("FREQ=WEEKLY;COUNT=4", first, PARIS)

    assert [s.astimezone(PARIS).strftime("%m-%d %H:%M") for s in starts] == [
        "03-18 17:00",
        "03-25 17:00",
        "04-01 17:00",
        "04-08 17:00",
    ]
    assert [s.astimezone(UTC).hour for s in starts] == [16, 16, 15, 15]


def test_byday_interval_and_until_as_a_local_date() -> None:
    first = datetime(2030, 1, 7, 10, 0, tzinfo=PARIS)  # a Monday

    starts = occurrences("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20300121", first, PARIS)

    assert [s.astimezone(PARIS).strftime("%a %d") for s in starts] == [
        "Mon 07",
        "Thu 10",
        "Mon 21",
    ]


def test_a_monthly_rule_takes_an_ordinal_weekday() -> None:
    first = datetime(2030, 1, 8, 9, 30, tzinfo=PARIS)

    starts = occurrences("FREQ=MONTHLY;COUNT=3;BYDAY=2TU", first, PARIS)

    assert [s.astimezone(PARIS).strftime("%m-%d %H:%M") for s in starts] == [
        "01-08 09:30",
        "02-12 09:30",
        "03-12 09:30",
    ]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=DAILY;COUNT=3", "WEEKLY or MONTHLY"),
        ("FREQ=WEEKLY", "exactly one of COUNT and UNTIL"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20300101", "exactly one of COUNT and UNTIL"),
        ("FREQ=WEEKLY;COUNT=53", "at most 52"),
        ("FREQ=WEEKLY;UNTIL=20330101", "at most 52"),
        ("FREQ=WEEKLY;COUNT=3;BYHOUR=9", "only FREQ"),
        ("FREQ=WEEKLY;COUNT=3;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;COUNT=3;BYDAY=2TU", "plain weekdays"),
        ("FREQ=WEEKLY;UNTIL=20301399", "not a real date"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT"),
    ],
)
def test_rules_outside_the_subset_are_refused_naming_rrule(rule: str, says: str) -> None:
    with pytest.raises(InvalidCommand) as refused:
        occurrences(rule, datetime(2030, 1, 7, 10, 0, tzinfo=PARIS), PARIS)

    assert list(refused.value.errors) == ["rrule"]
    assert says in refused.value.errors["rrule"]
