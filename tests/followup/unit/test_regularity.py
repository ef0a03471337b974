"""Contact regularity rules: what counts as a positive or negative contact, the gap timer, the
cool-off, civil hours (pure domain, no I/O)."""

from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup.domain import regularity
from followup.domain.durations import parse_duration
from followup.domain.policy import DEFAULT_POLICY, InvalidPolicy, policy_from_text
from followup.domain.regularity import Contact, Regularity

GAP = parse_duration("P10D")
COOLOFF = parse_duration("P14D")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SITE = uuid4()

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


def _fold(state: Regularity, events: list[regularity.Event]) -> Regularity:
    for event in events:
        state = regularity.evolve(state, event)
    return state


def _positive(state: Regularity, at: datetime, *, client_initiated: bool = True) -> Regularity:
    events = regularity.record_positive(state, SITE, at, GAP, client_initiated=client_initiated)
    return _fold(state, events)


def _negative(state: Regularity, at: datetime) -> Regularity:
    return _fold(state, regularity.record_negative(state, SITE, at, COOLOFF))


# --- definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "satisfaction", "how_are_you", "expected"),
    [
        ("reached", None, None, Contact.POSITIVE),
        ("responded", None, None, Contact.POSITIVE),
        ("responded", 5, 4, Contact.POSITIVE),
        ("reached", 3, None, Contact.POSITIVE),
        ("declined", None, None, Contact.NEGATIVE),
        ("reached", 2, None, Contact.NEGATIVE),
        ("reached", 1, None, Contact.NEGATIVE),
        ("responded", None, 1, Contact.NEGATIVE),
        ("responded", 4, 1, Contact.NEGATIVE),
        ("not_reached", None, None, Contact.NEUTRAL),
        ("responded", None, 2, Contact.POSITIVE),
    ],
)
def test_a_follow_up_answer_is_classified_by_the_contract_definitions(
    outcome: str, satisfaction: int | None, how_are_you: int | None, expected: Contact
) -> None:
    assert (
        regularity.classify_followup_answer(
            outcome, satisfaction=satisfaction, how_are_you=how_are_you
        )
        is expected
    )


@given(
    outcome=st.sampled_from(["reached", "responded", "declined", "not_reached"]),
    satisfaction=st.one_of(st.none(), st.integers(1, 5)),
    how_are_you=st.one_of(st.none(), st.integers(1, 5)),
)
def test_a_negative_answer_always_outweighs_a_positive_outcome(
    outcome: str, satisfaction: int | None, how_are_you: int | None
) -> None:
    contact = regularity.classify_followup_answer(
        outcome, satisfaction=satisfaction, how_are_you=how_are_you
    )
    negative = outcome == "declined" or satisfaction in (1, 2) or how_are_you == 1
    assert (contact is Contact.NEGATIVE) == negative
    if contact is Contact.POSITIVE:
        assert outcome in ("reached", "responded")


# --- gap timer -------------------------------------------------------------------------------


@given(at=instants)
def test_a_positive_contact_arms_the_gap_timer_max_contact_gap_later_in_elapsed_time(
    at: datetime,
) -> None:
    state = _positive(regularity.new(uuid4()), at)
    assert state.gap_due_at == at + timedelta(days=10)
    assert state.last_positive_at == at
    assert state.gap_found_at is None


@given(first=instants, later=st.timedeltas(timedelta(seconds=1), timedelta(days=30)))
def test_every_newer_positive_contact_re_arms_the_timer_and_an_older_one_changes_nothing(
    first: datetime, later: timedelta
) -> None:
    state = _positive(regularity.new(uuid4()), first)
    newer = _positive(state, first + later)
    assert newer.gap_due_at == first + later + timedelta(days=10)
    assert regularity.record_positive(state, SITE, first - later, GAP, client_initiated=True) == []


def test_the_gap_is_found_only_once_the_timer_is_due_and_then_re_arms_one_gap_ahead() -> None:
    state = _positive(regularity.new(uuid4()), T0)
    assert regularity.detect_gap(state, T0 + timedelta(days=9), GAP) == []
    fired_at = T0 + timedelta(days=10, seconds=1)
    state = _fold(state, regularity.detect_gap(state, fired_at, GAP))
    assert state.gap_found_at == fired_at
    assert state.gap_due_at == fired_at + timedelta(days=10)
    # A positive contact ends the "past the gap" state.
    state = _positive(state, fired_at + timedelta(hours=1), client_initiated=False)
    assert state.gap_found_at is None


def test_leaving_care_stops_the_gap_timer_and_clears_the_gap() -> None:
    state = _positive(regularity.new(uuid4()), T0)
    state = _fold(state, regularity.detect_gap(state, T0 + timedelta(days=11), GAP))
    state = _fold(state, regularity.stop_gap_timer(state, T0 + timedelta(days=12)))
    assert state.gap_due_at is None
    assert state.gap_found_at is None
    assert regularity.stop_gap_timer(state, T0 + timedelta(days=13)) == []


# --- cool-off --------------------------------------------------------------------------------


@given(at=instants, due_in=st.timedeltas(timedelta(0), timedelta(days=40)))
def test_outreach_due_inside_the_cooloff_moves_to_its_end_and_outside_it_is_not_held(
    at: datetime, due_in: timedelta
) -> None:
    state = _negative(regularity.new(uuid4()), at)
    end = at + timedelta(days=14)
    assert state.cooloff_until == end
    moved = state.deferred(at + due_in)
    if at + due_in < end:
        assert moved == end
    else:
        assert moved is None


def test_a_later_negative_contact_extends_the_cooloff_and_never_shortens_it() -> None:
    state = _negative(regularity.new(uuid4()), T0 + timedelta(days=3))
    assert regularity.record_negative(state, SITE, T0, COOLOFF) == []
    extended = _negative(state, T0 + timedelta(days=5))
    assert extended.cooloff_until == T0 + timedelta(days=19)


def test_only_a_positive_contact_the_client_initiated_ends_the_cooloff_early() -> None:
    state = _negative(regularity.new(uuid4()), T0)
    staff_call = _positive(state, T0 + timedelta(days=1), client_initiated=False)
    assert staff_call.in_cooloff(T0 + timedelta(days=2))
    session = _positive(state, T0 + timedelta(days=1), client_initiated=True)
    assert not session.in_cooloff(T0 + timedelta(days=2))
    assert session.deferred(T0 + timedelta(days=2)) is None


def test_a_negative_contact_leaves_the_gap_timer_running() -> None:
    state = _positive(regularity.new(uuid4()), T0)
    after = _negative(state, T0 + timedelta(days=2))
    assert after.gap_due_at == state.gap_due_at


# --- civil hours -----------------------------------------------------------------------------


@given(at=instants, zone=st.sampled_from(["Asia/Seoul", "Europe/Paris", "America/Toronto"]))
def test_moved_outreach_lands_between_nine_and_twenty_local_and_never_earlier(
    at: datetime, zone: str
) -> None:
    tz = ZoneInfo(zone)
    moved = regularity.at_civil_hour(at, tz)
    assert moved >= at
    assert moved - at <= timedelta(hours=14)
    assert time(9) <= moved.astimezone(tz).time() < time(20)


def test_a_time_inside_the_civil_day_is_kept() -> None:
    noon_paris = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert regularity.at_civil_hour(noon_paris, ZoneInfo("Europe/Paris")) == noon_paris


def test_a_night_time_moves_to_nine_the_next_morning_in_the_clients_zone() -> None:
    # 23:30 in Seoul (UTC+9) → 09:00 the next day in Seoul.
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    moved = regularity.at_civil_hour(late, ZoneInfo("Asia/Seoul"))
    assert moved == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


# --- policy and storage form -----------------------------------------------------------------


def test_policy_defaults_are_ten_days_and_fourteen_days() -> None:
    assert DEFAULT_POLICY.max_contact_gap == parse_duration("P10D")
    assert DEFAULT_POLICY.negative_contact_cooloff == parse_duration("P14D")


def test_a_policy_recorded_before_regularity_existed_takes_the_defaults() -> None:
    text = DEFAULT_POLICY.as_text()
    del text["max_contact_gap"], text["negative_contact_cooloff"]
    assert policy_from_text(text) == DEFAULT_POLICY


def test_a_zero_gap_is_refused_naming_the_field() -> None:
    text = {**DEFAULT_POLICY.as_text(), "max_contact_gap": "PT0S"}
    with pytest.raises(InvalidPolicy) as caught:
        policy_from_text(text)
    assert caught.value.field == "max_contact_gap"


def test_every_regularity_event_survives_its_storage_form() -> None:
    counselor = uuid4()
    state = regularity.new(uuid4())
    events: list[regularity.Event] = [
        *regularity.record_positive(
            state, SITE, T0, GAP, client_initiated=True, counselor_id=counselor
        ),
        regularity.NegativeContactNoted(T0, SITE, T0 + timedelta(days=14)),
        regularity.GapFound(T0, T0 + timedelta(days=10)),
        regularity.GapTimerStopped(T0),
    ]
    for event in events:
        assert regularity.from_record(*regularity.to_record(event)) == event
