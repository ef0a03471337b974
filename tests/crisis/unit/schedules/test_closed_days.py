"""Restrictions that know the site's closed days: a weekday layer on open days, a holiday
layer on closed days; `any` (the default) is what restrictions did before closures."""

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.domain.policy import PolicyLevel
from crisis.domain.schedules.closed_days import ClosedDays
from crisis.domain.schedules.coverage import empty_hours
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.oncall import on_call, shifts
from crisis.domain.schedules.restrictions import Restriction, RestrictionDays, windows_around
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import (
    InvalidSchedule,
    LayerDraft,
    RestrictionDraft,
    Schedule,
    build_schedule,
)
from crisis.domain.schedules.wall_clock import local
from crisis.domain.site_closures import Closure, closed_during

ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Seoul", "UTC"]
PARIS = ZoneInfo("Europe/Paris")
DAILY = Rotation(RotationKind.DAILY, time(9), date(2026, 1, 1))
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))
BASE, CLINICIAN, HOLIDAY = UUID(int=1), UUID(int=2), UUID(int=3)
CHRISTMAS = date(2026, 12, 25)  # a Friday
CLOSED = ClosedDays.of([(CHRISTMAS, CHRISTMAS)])


def _paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def _center(closed: ClosedDays = CLOSED) -> Schedule:
    """Someone always on call (layer 1); the clinicians on site Mon-Fri 9-17 on open days
    (layer 2); the holiday cover 9-17 on closed days, whatever the weekday (layer 3)."""
    always = Layer(DAILY, (BASE,))
    clinicians = Layer(
        DAILY, (CLINICIAN,), (Restriction(WEEKDAYS, time(9), time(17), RestrictionDays.OPEN),)
    )
    holidays = Layer(
        DAILY, (HOLIDAY,), (Restriction(EVERY_DAY, time(9), time(17), RestrictionDays.CLOSED),)
    )
    layers = (always, clinicians, holidays)
    return Schedule(uuid4(), uuid4(), "Center", "Europe/Paris", layers, closed_days=closed)


# --- the worked example --------------------------------------------------------------------


def test_on_a_public_holiday_the_holiday_layer_answers_instead_of_the_clinicians() -> None:
    schedule = _center()

    assert on_call(schedule, [], _paris(date(2026, 12, 24), 10)) == [CLINICIAN]
    assert on_call(schedule, [], _paris(CHRISTMAS, 10)) == [HOLIDAY]
    assert on_call(schedule, [], _paris(CHRISTMAS, 18)) == [BASE]
    assert on_call(schedule, [], _paris(date(2026, 12, 28), 10)) == [CLINICIAN]


def test_without_the_closure_the_holiday_is_a_weekday_again() -> None:
    assert on_call(_center(ClosedDays()), [], _paris(CHRISTMAS, 10)) == [CLINICIAN]


def test_the_shifts_follow_the_closed_day() -> None:
    found = shifts(_center(), [], _paris(date(2026, 12, 24), 0), _paris(date(2026, 12, 26), 0))

    assert [(s.staff_id, s.layer, s.start, s.end) for s in found] == [
        (BASE, 1, _paris(date(2026, 12, 24), 0), _paris(date(2026, 12, 24), 9)),
        (CLINICIAN, 2, _paris(date(2026, 12, 24), 9), _paris(date(2026, 12, 24), 17)),
        (BASE, 1, _paris(date(2026, 12, 24), 17), _paris(CHRISTMAS, 9)),
        (HOLIDAY, 3, _paris(CHRISTMAS, 9), _paris(CHRISTMAS, 17)),
        (BASE, 1, _paris(CHRISTMAS, 17), _paris(date(2026, 12, 26), 0)),
    ]


def test_a_night_window_belongs_to_the_day_it_starts_on() -> None:
    open_nights = Restriction(EVERY_DAY, time(22), time(7), RestrictionDays.OPEN)
    closed_nights = Restriction(EVERY_DAY, time(22), time(7), RestrictionDays.CLOSED)
    layer_open = Layer(DAILY, (BASE,), (open_nights,))
    layer_closed = Layer(DAILY, (HOLIDAY,), (closed_nights,))

    # Christmas Eve is open: its night runs into Christmas morning.
    assert layer_open.on_call(_paris(CHRISTMAS, 6), PARIS, CLOSED) == BASE
    assert layer_closed.on_call(_paris(CHRISTMAS, 6), PARIS, CLOSED) is None
    # Christmas night started on the closed day: it runs into the 26th's morning.
    assert layer_closed.on_call(_paris(date(2026, 12, 26), 6), PARIS, CLOSED) == HOLIDAY
    assert layer_open.on_call(_paris(date(2026, 12, 26), 6), PARIS, CLOSED) is None
    assert layer_open.on_call(_paris(date(2026, 12, 26), 23), PARIS, CLOSED) == BASE


def test_the_look_ahead_sees_the_clinicians_missing_on_a_closed_day() -> None:
    clinicians = Schedule(
        uuid4(),
        uuid4(),
        "Clinicians",
        "Europe/Paris",
        (
            Layer(
                DAILY,
                (CLINICIAN,),
                (Restriction(WEEKDAYS, time(9), time(17), RestrictionDays.OPEN),),
            ),
        ),
        closed_days=CLOSED,
    )
    level = PolicyLevel((), timedelta(minutes=5), (clinicians.schedule_id,))
    morning = _paris(CHRISTMAS, 9)

    assert len(empty_hours(level, [(clinicians, [])], morning, 8)) == 8
    open_day = _paris(date(2026, 12, 24), 9)
    assert empty_hours(level, [(clinicians, [])], open_day, 8) == []


def test_closed_days_merge_overlapping_spans_and_answer_by_date() -> None:
    closed = ClosedDays.of(
        [
            (date(2026, 8, 10), date(2026, 8, 20)),
            (date(2026, 5, 1), date(2026, 5, 1)),
            (date(2026, 8, 15), date(2026, 8, 25)),
        ]
    )

    assert closed.spans == (
        (date(2026, 5, 1), date(2026, 5, 1)),
        (date(2026, 8, 10), date(2026, 8, 25)),
    )
    assert date(2026, 5, 1) in closed
    assert date(2026, 5, 2) not in closed
    assert date(2026, 8, 25) in closed
    assert date(2026, 8, 9) not in closed
    assert date(2026, 4, 30) not in closed


def test_a_draft_names_a_restriction_days_it_does_not_know() -> None:
    draft = LayerDraft(
        "daily",
        "09:00",
        date(2026, 1, 1),
        [uuid4()],
        restrictions=[RestrictionDraft([1], "09:00", "17:00", "holidays")],
    )
    with pytest.raises(InvalidSchedule) as caught:
        build_schedule(uuid4(), uuid4(), "Line", "Europe/Paris", [draft])

    assert [e.field for e in caught.value.errors] == ["layers.0.restrictions.0.days"]


def test_a_draft_keeps_the_restriction_days() -> None:
    draft = LayerDraft(
        "daily",
        "09:00",
        date(2026, 1, 1),
        [uuid4()],
        restrictions=[RestrictionDraft([1], "09:00", "17:00", "closed")],
    )
    [layer] = build_schedule(uuid4(), uuid4(), "Line", "Europe/Paris", [draft]).layers

    assert layer.restrictions[0].days is RestrictionDays.CLOSED


# --- properties ----------------------------------------------------------------------------

days_of = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
spans = st.lists(
    st.tuples(days_of, st.integers(0, 20)).map(lambda s: (s[0], s[0] + timedelta(days=s[1]))),
    max_size=8,
)
clocks = st.times().map(lambda t: time(t.hour, t.minute))
restrictions = st.builds(
    Restriction,
    st.frozensets(st.integers(1, 7), min_size=1),
    clocks,
    clocks,
    st.sampled_from(RestrictionDays),
).filter(lambda r: r.start != r.end)


@settings(max_examples=300, deadline=None)
@given(
    restriction=restrictions,
    closed_spans=spans,
    zone=st.sampled_from(ZONES),
    first=days_of,
    length=st.integers(1, 40),
)
def test_open_never_starts_a_window_on_a_closed_day_nor_closed_on_an_open_one(
    restriction: Restriction,
    closed_spans: list[tuple[date, date]],
    zone: str,
    first: date,
    length: int,
) -> None:
    tz, closed = ZoneInfo(zone), ClosedDays.of(closed_spans)
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    found = windows_around((restriction,), start, start + timedelta(days=length), tz, closed)

    for window_start, _ in found:
        day = local(window_start, tz).date()
        if restriction.days is RestrictionDays.OPEN:
            assert day not in closed
        elif restriction.days is RestrictionDays.CLOSED:
            assert day in closed


@settings(max_examples=200, deadline=None)
@given(
    layer_restrictions=st.lists(
        restrictions.map(lambda r: Restriction(r.weekdays, r.start, r.end)), max_size=3
    ),
    closed_spans=spans,
    zone=st.sampled_from(ZONES),
    first=days_of,
    hours=st.integers(1, 24 * 20),
)
def test_any_answers_what_restrictions_answered_before_closures(
    layer_restrictions: list[Restriction],
    closed_spans: list[tuple[date, date]],
    zone: str,
    first: date,
    hours: int,
) -> None:
    layers = (
        Layer(DAILY, (BASE, CLINICIAN)),
        Layer(DAILY, (HOLIDAY,), tuple(layer_restrictions)),
    )
    before = Schedule(uuid4(), uuid4(), "Line", zone, layers)
    now = Schedule(
        before.schedule_id, before.site_id, "Line", zone, layers, (), ClosedDays.of(closed_spans)
    )
    start = datetime.combine(first, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    end = start + timedelta(hours=hours)

    assert shifts(now, [], start, end) == shifts(before, [], start, end)
    assert on_call(now, [], end) == on_call(before, [], end)


def test_a_shift_names_the_closed_days_it_touches_in_its_zone() -> None:
    closures = [
        Closure(CHRISTMAS, date(2026, 12, 26), "public_holiday"),
        Closure(date(2026, 12, 31), date(2026, 12, 31), "closure"),
    ]
    # Christmas Eve 23:00 to the 27th 01:00 in Paris: the 25th and the 26th.
    found = closed_during(
        closures, PARIS, _paris(date(2026, 12, 24), 23), _paris(date(2026, 12, 27), 1)
    )

    assert [(day, c.kind) for day, c in found] == [
        (CHRISTMAS, "public_holiday"),
        (date(2026, 12, 26), "public_holiday"),
    ]
    # Ending at midnight of the 31st: that day is not touched.
    assert (
        closed_during(closures, PARIS, _paris(date(2026, 12, 30), 9), _paris(date(2026, 12, 31), 0))
        == []
    )


# --- the site's zone judges the closed day ----------------------------------------------------

SEOUL = ZoneInfo("Asia/Seoul")


def _seoul(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SEOUL).astimezone(UTC)


def _paris_schedule_of_a_seoul_site(closed: ClosedDays) -> Schedule:
    """A schedule kept in Paris time for a site in Seoul: the holiday cover 20:00-23:00 Paris
    (04:00-07:00 Seoul the next morning) on closed days, nobody else."""
    holidays = Layer(
        DAILY, (HOLIDAY,), (Restriction(EVERY_DAY, time(20), time(23), RestrictionDays.CLOSED),)
    )
    return Schedule(uuid4(), uuid4(), "Night desk", "Europe/Paris", (holidays,), closed_days=closed)


def test_a_closed_day_is_the_sites_local_date_not_the_schedules() -> None:
    # Seoul's Christmas is 24 Dec 16:00 to 25 Dec 16:00 in Paris: the Paris evening of the
    # 24th starts on the 25th in Seoul, the Paris evening of the 25th on the 26th.
    schedule = _paris_schedule_of_a_seoul_site(ClosedDays.of([(CHRISTMAS, CHRISTMAS)], SEOUL))

    assert on_call(schedule, [], _seoul(CHRISTMAS, 5)) == [HOLIDAY]
    assert on_call(schedule, [], _seoul(date(2026, 12, 26), 5)) == []


def test_without_the_sites_zone_the_schedules_zone_judges_the_day() -> None:
    schedule = _paris_schedule_of_a_seoul_site(ClosedDays.of([(CHRISTMAS, CHRISTMAS)]))

    assert on_call(schedule, [], _seoul(CHRISTMAS, 5)) == []
    assert on_call(schedule, [], _seoul(date(2026, 12, 26), 5)) == [HOLIDAY]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    site_zone=st.sampled_from(ZONES),
    offset_hours=st.integers(min_value=0, max_value=24 * 5 - 1),
)
def test_a_closed_days_window_always_starts_on_a_closed_site_date(
    zone: str, site_zone: str, offset_hours: int
) -> None:
    site = ZoneInfo(site_zone)
    holidays = Layer(
        DAILY, (HOLIDAY,), (Restriction(EVERY_DAY, time(20), time(23), RestrictionDays.CLOSED),)
    )
    closed = ClosedDays.of([(CHRISTMAS, CHRISTMAS)], site)
    found = windows_around(
        holidays.restrictions,
        datetime(2026, 12, 22, tzinfo=UTC) + timedelta(hours=offset_hours),
        datetime(2026, 12, 22, tzinfo=UTC) + timedelta(hours=offset_hours + 1),
        ZoneInfo(zone),
        closed,
    )
    assert all(local(start, site).date() == CHRISTMAS for start, _ in found)
