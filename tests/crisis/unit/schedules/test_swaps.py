"""Shift swap requests: the interval lies within the requester's own shifts (across DST and
layers), only those offered may take it, the first taker wins, and it expires at its start."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.oncall import on_call
from crisis.domain.schedules.overrides import Override
from crisis.domain.schedules.restrictions import Restriction
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import Schedule
from crisis.domain.schedules.swaps import (
    TAKER_ON_CALL,
    TAKER_ON_CALL_IN_POLICY,
    InvalidSwap,
    NotOffered,
    SwapConflict,
    SwapRequest,
    SwapStatus,
    TakerOnCall,
    build_swap_request,
    check_still_on_call,
    check_taker_adds_cover,
    check_taker_not_named_in_policy,
    check_taker_not_on_call_elsewhere,
    decide_cancel,
    decide_expire,
    decide_take,
    uncovered,
)

A, B, C, D = (UUID(int=i) for i in range(1, 5))
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _weekly(*participants: UUID) -> Layer:
    rotation = Rotation(RotationKind.WEEKLY, time(9), date(2026, 3, 2), handoff_weekday=1)
    return Layer(rotation, participants)


def _schedule(*layers: Layer, timezone: str = "America/New_York") -> Schedule:
    return Schedule(uuid4(), uuid4(), "Crisis line", timezone, layers)


# A's weekly turn runs from Monday 2026-03-02 09:00 New York (14:00Z) to Monday 2026-03-09
# 09:00, which is 13:00Z: the clocks sprang forward on Sunday 2026-03-08.
SCHEDULE = _schedule(_weekly(A, B, C))


def _ask(
    start: datetime,
    end: datetime,
    *,
    schedule: Schedule = SCHEDULE,
    overrides: tuple[Override, ...] = (),
    offered_to: list[UUID] | None = None,
    requester: UUID = A,
    unavailable: frozenset[UUID] = frozenset(),
) -> SwapRequest:
    return build_swap_request(
        uuid4(), schedule, overrides, requester, start, end, offered_to, NOW, unavailable
    )


def test_a_swap_may_reach_the_handoff_at_its_local_time_after_a_dst_change() -> None:
    request = _ask(_at(3, 8, 5), _at(3, 9, 13))  # across 2026-03-08 07:00Z, to the handoff

    assert (request.start, request.end, request.status) == (
        _at(3, 8, 5),
        _at(3, 9, 13),
        SwapStatus.OPEN,
    )
    assert request.expires_at == request.start


def test_a_swap_past_the_handoff_is_refused_though_standard_time_would_allow_it() -> None:
    # 14:00Z would still be A's at the winter offset; after the change B is on call from 13:00Z.
    with pytest.raises(InvalidSwap) as refused:
        _ask(_at(3, 8, 5), _at(3, 9, 13, 30))

    assert refused.value.field == "start"
    assert "2026-03-09T13:00:00+00:00" in refused.value.message


def test_a_swap_of_someone_elses_turn_is_refused() -> None:
    with pytest.raises(InvalidSwap):
        _ask(_at(3, 10), _at(3, 11), requester=A)  # B's turn


def test_a_later_layer_hides_the_requester_so_its_hours_cannot_be_given_away() -> None:
    saturdays = Layer(
        Rotation(RotationKind.DAILY, time(0), date(2026, 1, 1)),
        (D,),
        (Restriction(frozenset({6}), time(0), time(0)),),
    )
    layered = _schedule(_weekly(A, B), saturdays)
    friday, saturday_noon = _at(3, 6, 12), _at(3, 7, 17)  # Saturday starts 05:00Z

    assert uncovered(layered, (), A, friday, saturday_noon) == [(_at(3, 7, 5), saturday_noon)]
    with pytest.raises(InvalidSwap):
        _ask(friday, saturday_noon, schedule=layered)
    assert _ask(friday, _at(3, 7, 5), schedule=layered).end == _at(3, 7, 5)


def test_time_an_override_gave_the_requester_can_be_swapped_on() -> None:
    added = Override(uuid4(), D, _at(3, 10), _at(3, 11), replaces=B)  # D covers B for a day

    request = _ask(_at(3, 10, 2), _at(3, 10, 20), requester=D, overrides=(added,))

    assert request.offered_to == tuple(sorted([A, B, C], key=str))


def test_by_default_it_is_offered_to_every_other_active_participant() -> None:
    request = _ask(_at(3, 3), _at(3, 4), unavailable=frozenset({C}))

    assert request.offered_to == (B,)


@pytest.mark.parametrize(
    ("offered_to", "why"),
    [
        ([], "at least one"),
        ([A], "their own shift"),
        ([D], "not a participant"),
        ([C], "deactivated"),
    ],
)
def test_it_may_be_offered_only_to_other_active_participants(
    offered_to: list[UUID], why: str
) -> None:
    with pytest.raises(InvalidSwap) as refused:
        _ask(_at(3, 3), _at(3, 4), offered_to=offered_to, unavailable=frozenset({C}))

    assert refused.value.field == "offered_to"
    assert why in refused.value.message


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (_at(3, 4), _at(3, 3), "end"),
        (NOW - timedelta(hours=1), _at(3, 3), "start"),  # already begun
        (datetime(2026, 3, 3), datetime(2026, 3, 4), "start"),  # no offset
    ],
)
def test_a_bad_interval_names_its_field(start: datetime, end: datetime, field: str) -> None:
    with pytest.raises(InvalidSwap) as refused:
        _ask(start, end)

    assert refused.value.field == field


def test_the_first_taker_wins_and_a_second_take_conflicts() -> None:
    request = _ask(_at(3, 3), _at(3, 4))
    override_id = uuid4()

    taken = decide_take(request, B, override_id, NOW)

    assert (taken.status, taken.taken_by, taken.override_id) == (SwapStatus.TAKEN, B, override_id)
    assert taken.override() == Override(override_id, B, _at(3, 3), _at(3, 4), A)
    with pytest.raises(SwapConflict):
        decide_take(taken, C, uuid4(), NOW)
    with pytest.raises(SwapConflict):
        decide_cancel(taken, NOW)


def test_only_staff_it_was_offered_to_may_take_it() -> None:
    request = _ask(_at(3, 3), _at(3, 4), offered_to=[B])

    with pytest.raises(NotOffered):
        decide_take(request, C, uuid4(), NOW)


def test_it_expires_at_its_start_and_cannot_be_taken_then() -> None:
    request = _ask(_at(3, 3), _at(3, 4))

    assert decide_expire(request, _at(3, 3) - timedelta(seconds=1)) is None
    expired = decide_expire(request, _at(3, 3))
    assert expired is not None
    assert expired.status is SwapStatus.EXPIRED
    with pytest.raises(SwapConflict):
        decide_take(request, B, uuid4(), _at(3, 3))
    assert decide_expire(decide_cancel(request, NOW), _at(3, 3)) is None


def test_a_take_after_the_schedule_moved_the_requester_conflicts() -> None:
    request = _ask(_at(3, 3), _at(3, 4))
    moved = replace(SCHEDULE, layers=(_weekly(B, A, C),))  # A's turn is now the next week

    check_still_on_call(request, SCHEDULE, ())
    with pytest.raises(SwapConflict):
        check_still_on_call(request, moved, ())


def test_a_colleague_already_on_call_for_some_of_it_cannot_take_it() -> None:
    # B was added beside A for the evening: replacing A by B there would leave B alone.
    beside = Override(uuid4(), B, _at(3, 3, 22), _at(3, 4, 2), None)
    asked = _ask(_at(3, 3), _at(3, 4), overrides=(beside,))

    with pytest.raises(TakerOnCall) as refused:
        check_taker_adds_cover(decide_take(asked, B, uuid4(), NOW), SCHEDULE, (beside,))
    assert (refused.value.reason, refused.value.schedule_id) == (TAKER_ON_CALL, None)
    check_taker_adds_cover(decide_take(asked, C, uuid4(), NOW), SCHEDULE, (beside,))
    after = (Override(uuid4(), B, _at(3, 4), _at(3, 4, 2), None),)  # from its end: no overlap
    check_taker_adds_cover(
        decide_take(_ask(_at(3, 3), _at(3, 4)), B, uuid4(), NOW), SCHEDULE, after
    )


def test_a_colleague_on_call_then_on_another_schedule_of_the_policy_cannot_take_it() -> None:
    """D is on the backup schedule that the same escalation policy pages: taking A's hours
    would page D twice and one person fewer. Outside D's backup hours, D may take it."""
    line, backup = _schedule(_weekly(A, B, C, D)), _schedule(_weekly(C))
    evening = (Override(uuid4(), D, _at(3, 3, 22), _at(3, 4, 2), C),)
    asked = _ask(_at(3, 3), _at(3, 4), schedule=line, offered_to=[B, D])
    taken = decide_take(asked, D, uuid4(), NOW)

    with pytest.raises(TakerOnCall) as refused:
        check_taker_not_on_call_elsewhere(taken, [(backup, evening)])

    assert refused.value.reason == TAKER_ON_CALL_IN_POLICY
    assert refused.value.schedule_id == backup.schedule_id
    later = _ask(_at(3, 4, 2), _at(3, 5), schedule=line, offered_to=[D])
    check_taker_not_on_call_elsewhere(decide_take(later, D, uuid4(), NOW), [(backup, evening)])
    check_taker_not_on_call_elsewhere(decide_take(asked, B, uuid4(), NOW), [(backup, evening)])


def test_a_colleague_named_in_a_level_of_the_policy_cannot_take_it() -> None:
    """C is paged by name at level 2 of a policy that pages this schedule: taking A's hours
    would page C twice. Another policy's levels count as well; B, named nowhere, may take it."""
    asked = _ask(_at(3, 3), _at(3, 4), offered_to=[B, C])
    named: list[list[tuple[UUID, ...]]] = [[(D,)], [(), (C, D)]]

    with pytest.raises(TakerOnCall) as refused:
        check_taker_not_named_in_policy(decide_take(asked, C, uuid4(), NOW), named)

    assert (refused.value.reason, refused.value.level) == (TAKER_ON_CALL_IN_POLICY, 2)
    assert refused.value.schedule_id is None
    check_taker_not_named_in_policy(decide_take(asked, B, uuid4(), NOW), named)


@settings(max_examples=60, deadline=None)
@given(
    offset=st.integers(min_value=0, max_value=7 * 24 * 60 - 61),
    length=st.integers(min_value=1, max_value=7 * 24 * 60),
    zone=st.sampled_from(["America/New_York", "Europe/Paris", "Australia/Sydney"]),
)
def test_a_taken_swap_puts_the_taker_in_the_requesters_place_for_all_of_it(
    offset: int, length: int, zone: str
) -> None:
    schedule = _schedule(_weekly(A, B, C), timezone=zone)
    week_start = _at(3, 2)  # A's turn covers some of every hour of this week
    start = week_start + timedelta(minutes=offset)
    end = min(start + timedelta(minutes=length), week_start + timedelta(days=7))
    if uncovered(schedule, (), A, start, end):
        with pytest.raises(InvalidSwap):
            _ask(start, end, schedule=schedule)
        return
    taken = decide_take(_ask(start, end, schedule=schedule), B, uuid4(), NOW)

    for instant in (start, start + (end - start) / 2, end - timedelta(seconds=1)):
        assert on_call(schedule, [taken.override()], instant) == [B]
    assert uncovered(schedule, [taken.override()], A, start, end) == [(start, end)]
