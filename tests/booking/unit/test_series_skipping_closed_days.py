"""A series that leaves out its closed days (`skip_closed`): which dates it books, which it
names as skipped, what COUNT and UNTIL mean then, and when nothing is left to book."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.errors import InvalidCommand
from booking.domain.scheduling.closures import Closure, ClosureKind, closed_day
from booking.domain.scheduling.series import (
    MAX_OCCURRENCES,
    SeriesConflicts,
    SkippedOccurrence,
    occurrences,
    plan_occurrences,
)

PARIS = ZoneInfo("Europe/Paris")
HOUR = timedelta(minutes=50)
FIRST = datetime(2030, 4, 2, 17, 0, tzinfo=PARIS)  # a Tuesday
EASTER_TUESDAY = date(2030, 4, 23)
MAY_DAY_WEEK = (date(2030, 4, 29), date(2030, 5, 3))


def _local(starts: list[datetime]) -> list[str]:
    return [s.astimezone(PARIS).strftime("%m-%d") for s in starts]


def _closures() -> tuple[Closure, ...]:
    return (
        Closure(EASTER_TUESDAY, EASTER_TUESDAY, ClosureKind.PUBLIC_HOLIDAY),
        Closure(*MAY_DAY_WEEK, ClosureKind.TRAINING, "Team week"),
    )


def test_count_counts_booked_occurrences_so_the_series_runs_past_the_closed_weeks() -> None:
    planned = plan_occurrences("FREQ=WEEKLY;COUNT=6;BYDAY=TU", FIRST, PARIS, HOUR, _closures())

    assert _local(planned.starts) == ["04-02", "04-09", "04-16", "05-07", "05-14", "05-21"]
    assert planned.skipped == [
        SkippedOccurrence(
            datetime(2030, 4, 23, 15, 0, tzinfo=UTC), EASTER_TUESDAY, "public_holiday"
        ),
        SkippedOccurrence(datetime(2030, 4, 30, 15, 0, tzinfo=UTC), date(2030, 4, 30), "training"),
    ]
    assert {s.reason for s in planned.skipped} == {"site_closed"}


def test_until_keeps_its_last_date_and_leaves_the_closed_ones_out() -> None:
    planned = plan_occurrences(
        "FREQ=WEEKLY;UNTIL=20300514;BYDAY=TU", FIRST, PARIS, HOUR, _closures()
    )

    assert _local(planned.starts) == ["04-02", "04-09", "04-16", "05-07", "05-14"]
    assert [s.closed_on for s in planned.skipped] == [EASTER_TUESDAY, date(2030, 4, 30)]


def test_without_closures_the_plan_is_the_rule_itself() -> None:
    planned = plan_occurrences("FREQ=WEEKLY;COUNT=6;BYDAY=TU", FIRST, PARIS, HOUR, ())

    assert planned.starts == occurrences("FREQ=WEEKLY;COUNT=6;BYDAY=TU", FIRST, PARIS)
    assert planned.skipped == []


def test_a_session_running_past_midnight_into_a_closed_day_is_left_out() -> None:
    late = datetime(2030, 4, 22, 23, 30, tzinfo=PARIS)  # a Monday; Tuesday is closed

    planned = plan_occurrences(
        "FREQ=WEEKLY;COUNT=2", late, PARIS, timedelta(minutes=60), _closures()
    )

    assert _local(planned.starts) == ["05-06", "05-13"]
    # The first runs into Easter Tuesday; the second starts inside the training week.
    assert [s.closed_on for s in planned.skipped] == [EASTER_TUESDAY, date(2030, 4, 29)]


def test_every_date_closed_is_a_conflict_naming_each_one() -> None:
    within = datetime(2030, 4, 29, 10, 0, tzinfo=PARIS)

    with pytest.raises(SeriesConflicts) as refused:
        plan_occurrences(
            "FREQ=WEEKLY;UNTIL=20300503;BYDAY=MO,WE,FR", within, PARIS, HOUR, _closures()
        )

    assert [(c.reason, c.closed_on, c.closure_kind) for c in refused.value.conflicts] == [
        ("site_closed", date(2030, 4, 29), "training"),
        ("site_closed", date(2030, 5, 1), "training"),
        ("site_closed", date(2030, 5, 3), "training"),
    ]


def test_a_count_that_only_more_than_52_closed_dates_would_reach_is_a_conflict() -> None:
    closed_two_years = (Closure(date(2030, 4, 1), date(2032, 3, 31), ClosureKind.CLOSURE),)

    with pytest.raises(SeriesConflicts) as refused:
        plan_occurrences("FREQ=WEEKLY;COUNT=3", FIRST, PARIS, HOUR, closed_two_years)

    assert len(refused.value.conflicts) == MAX_OCCURRENCES + 1


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;COUNT=53", "FREQ=WEEKLY;UNTIL=20330101"])
def test_the_52_cap_is_on_booked_occurrences(rule: str) -> None:
    with pytest.raises(InvalidCommand) as refused:
        plan_occurrences(rule, FIRST, PARIS, HOUR, _closures())

    assert "at most 52" in refused.value.errors["rrule"]


def test_an_until_with_up_to_52_open_dates_is_fine_however_many_are_closed() -> None:
    # 54 Tuesdays, two of them closed: 52 to book.
    planned = plan_occurrences(
        "FREQ=WEEKLY;UNTIL=20310408;BYDAY=TU", FIRST, PARIS, HOUR, _closures()
    )

    assert len(planned.starts) == MAX_OCCURRENCES
    assert len(planned.skipped) == 2


@given(
    count=st.integers(1, 20),
    closed=st.sets(st.integers(0, 60), max_size=25),
)
def test_the_booked_and_skipped_dates_are_the_rule_s_first_dates_split_by_closure(
    count: int, closed: set[int]
) -> None:
    """Booked: exactly COUNT open dates; with the skipped ones, the rule's first dates in
    order, none missing; each skipped date closed, each booked one open."""
    closures = tuple(
        Closure(d, d, ClosureKind.PUBLIC_HOLIDAY)
        for d in sorted(FIRST.date() + timedelta(weeks=n) for n in closed)
    )

    planned = plan_occurrences(f"FREQ=WEEKLY;COUNT={count}", FIRST, PARIS, HOUR, closures)

    assert len(planned.starts) == count
    every = occurrences(f"FREQ=WEEKLY;COUNT={count + len(planned.skipped)}", FIRST, PARIS)
    assert sorted(planned.starts + [s.start for s in planned.skipped]) == every
    assert all(closed_day(closures, PARIS, s, s + HOUR) is None for s in planned.starts)
    assert all(closed_day(closures, PARIS, s.start, s.start + HOUR) for s in planned.skipped)


def test_an_until_past_more_than_52_closed_dates_is_refused_not_cut_short() -> None:
    """Two open Tuesdays, a closure of 60 weeks, then three open Tuesdays before UNTIL: the
    plan must not stop at the 53rd closed date and book the first two alone (the series
    would end a year and more before the UNTIL its caller gave, with no word of it)."""
    away = (Closure(date(2030, 4, 15), date(2031, 6, 9), ClosureKind.CLOSURE),)

    with pytest.raises(SeriesConflicts) as refused:
        plan_occurrences("FREQ=WEEKLY;UNTIL=20310701;BYDAY=TU", FIRST, PARIS, HOUR, away)

    assert len(refused.value.conflicts) == MAX_OCCURRENCES + 1
    assert {c.reason for c in refused.value.conflicts} == {"site_closed"}
