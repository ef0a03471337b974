"""A rotation edit with `apply_from` `next_handoff` keeps the running shift until the layer's
next handoff; from an instant, the old layers until that instant; the default (`now`) swaps at
once, as version 1 did."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4

from crisis.adapters.schedule_codec import schedule_from_json, schedule_json
from crisis.domain.policy import PolicyLevel
from crisis.domain.schedules.aggregate import ScheduleState, decide_define, fold
from crisis.domain.schedules.coverage import empty_hours
from crisis.domain.schedules.edits import ApplyFrom, apply_edit
from crisis.domain.schedules.layers import Layer
from crisis.domain.schedules.oncall import on_call, shifts
from crisis.domain.schedules.restrictions import Restriction
from crisis.domain.schedules.rotation import Rotation, RotationKind
from crisis.domain.schedules.schedule import Schedule

A, B, C, D = (UUID(int=i) for i in range(1, 5))
SCHEDULE_ID, SITE_ID = uuid4(), uuid4()
# Weekly, Monday 09:00 New York from 2026-02-02: the turn of 2026-03-02 14:00Z is the 5th.
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday, mid-shift
NEXT_HANDOFF = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Monday 09:00 EDT


def _weekly(*staff: UUID, handoff: time = time(9), weekday: int = 1) -> Layer:
    return Layer(
        Rotation(RotationKind.WEEKLY, handoff, date(2026, 2, 2), handoff_weekday=weekday), staff
    )


def _schedule(*layers: Layer, timezone: str = "America/New_York") -> Schedule:
    return Schedule(SCHEDULE_ID, SITE_ID, "Night line", timezone, layers)


def _edited(before: Schedule, after: Schedule, apply_from: ApplyFrom | datetime) -> Schedule:
    """Through the aggregate, as a PUT at NOW records it."""
    (event,) = decide_define(ScheduleState(before), after, NOW, apply_from)
    state = fold([event], ScheduleState(before))
    assert state is not None
    return state.schedule


def test_a_participant_added_mid_shift_waits_for_the_next_handoff() -> None:
    before = _schedule(_weekly(A, B))
    assert on_call(before, [], NOW) == [A]
    after = _schedule(_weekly(A, C, B))

    kept = _edited(before, after, ApplyFrom.NEXT_HANDOFF)
    assert on_call(kept, [], NOW) == [A]
    assert on_call(kept, [], NEXT_HANDOFF - timedelta(seconds=1)) == [A]
    assert on_call(kept, [], NEXT_HANDOFF) == [B]  # the new rotation's 6th turn

    swapped = _edited(before, after, ApplyFrom.NOW)
    assert on_call(swapped, [], NOW) == [C]  # version 1's behaviour, still the default
    assert swapped.running == ()


def test_shifts_agree_with_on_call_across_the_kept_shift() -> None:
    kept = _edited(_schedule(_weekly(A, B)), _schedule(_weekly(A, C, B)), ApplyFrom.NEXT_HANDOFF)
    found = shifts(kept, [], NOW, NOW + timedelta(days=14))
    assert [(s.staff_id, s.start, s.end, s.layer) for s in found] == [
        (A, NOW, NEXT_HANDOFF, 1),
        (B, NEXT_HANDOFF, datetime(2026, 3, 16, 13, 0, tzinfo=UTC), 1),
        (A, datetime(2026, 3, 16, 13, 0, tzinfo=UTC), NOW + timedelta(days=14), 1),
    ]
    for shift in found:
        assert shift.staff_id in on_call(kept, [], shift.start)
        assert shift.staff_id in on_call(kept, [], shift.end - timedelta(seconds=1))


def test_a_changed_handoff_time_keeps_the_shift_to_the_old_handoff() -> None:
    before = _schedule(_weekly(A, B))
    after = _schedule(_weekly(A, B, handoff=time(17), weekday=3))  # Wednesdays 17:00
    # Swapped at once: the new rotation's turn since last Wednesday 17:00 is B's.
    assert on_call(_edited(before, after, ApplyFrom.NOW), [], NOW) == [B]
    kept = _edited(before, after, ApplyFrom.NEXT_HANDOFF)
    assert on_call(kept, [], NOW) == [A]
    assert on_call(kept, [], NEXT_HANDOFF) == [A]  # the new rotation's turn from 03-04 17:00
    assert on_call(kept, [], datetime(2026, 3, 11, 20, 59, tzinfo=UTC)) == [A]
    assert on_call(kept, [], datetime(2026, 3, 11, 21, 0, tzinfo=UTC)) == [B]  # 17:00 EDT


def test_a_removed_layer_runs_out_and_an_added_one_starts_at_its_own_next_handoff() -> None:
    before = _schedule(_weekly(A, B), _weekly(C))
    after = _schedule(_weekly(A, B))
    kept = _edited(before, after, ApplyFrom.NEXT_HANDOFF)
    assert on_call(kept, [], NOW) == [C]
    assert on_call(kept, [], NEXT_HANDOFF) == [B]

    grown = _edited(after, before, ApplyFrom.NEXT_HANDOFF)
    assert on_call(grown, [], NOW) == [A]
    assert on_call(grown, [], NEXT_HANDOFF) == [C]


def test_a_second_edit_before_the_handoff_keeps_the_shift_still_running() -> None:
    first = _edited(_schedule(_weekly(A, B)), _schedule(_weekly(A, C, B)), ApplyFrom.NEXT_HANDOFF)
    second = _edited(first, _schedule(_weekly(D, C, B)), ApplyFrom.NEXT_HANDOFF)
    assert on_call(second, [], NOW) == [A]
    assert on_call(second, [], NEXT_HANDOFF) == [B]
    back = _edited(first, _schedule(_weekly(A, B)), ApplyFrom.NEXT_HANDOFF)
    assert back.running == ()  # the definition running now: nothing to keep


def test_a_zone_change_moves_no_one_now() -> None:
    before = _schedule(_weekly(A, B))
    after = _schedule(_weekly(A, B), timezone="Asia/Seoul")  # Monday 09:00 Seoul: 00:00Z
    kept = apply_edit(before, after, NOW, ApplyFrom.NEXT_HANDOFF)
    assert on_call(kept, [], NOW) == [A]
    assert on_call(kept, [], NEXT_HANDOFF) == [B]


def test_the_look_ahead_sees_the_kept_shift_and_the_gaps_after_it() -> None:
    before = _schedule(_weekly(A, B))
    office = Restriction(frozenset({1, 2, 3, 4, 5}), time(9), time(17))
    after = _schedule(replace(_weekly(A, B), restrictions=(office,)))
    level = PolicyLevel((), timedelta(minutes=5), (SCHEDULE_ID,))
    evening = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)  # 17:00 EST, today

    swapped = _edited(before, after, ApplyFrom.NOW)
    assert evening in empty_hours(level, [(swapped, [])], NOW, 24)
    kept = _edited(before, after, ApplyFrom.NEXT_HANDOFF)
    assert empty_hours(level, [(kept, [])], NOW, 5 * 24 - 2) == []  # to the handoff: covered
    assert datetime(2026, 3, 9, 21, 0, tzinfo=UTC) in empty_hours(level, [(kept, [])], NOW, 6 * 24)


def test_the_kept_layers_survive_the_event_codec() -> None:
    kept = _edited(_schedule(_weekly(A, B)), _schedule(_weekly(A, C, B)), ApplyFrom.NEXT_HANDOFF)
    assert schedule_from_json(schedule_json(kept)) == kept
    plain = _schedule(_weekly(A, B))
    assert "running_layers" not in schedule_json(plain)  # version-1 events unchanged


FRIDAY_NOON = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def test_from_an_instant_the_old_layers_stand_until_it_then_the_new_ones_mid_turn() -> None:
    before = _schedule(_weekly(A, B), _weekly(C))
    after = _schedule(_weekly(D, B))  # layer 2 removed, layer 1's people changed

    edited = _edited(before, after, FRIDAY_NOON)

    assert on_call(edited, [], NOW) == [C]  # the old layer 2 still wins
    assert on_call(edited, [], FRIDAY_NOON - timedelta(seconds=1)) == [C]
    assert on_call(edited, [], FRIDAY_NOON) == [D]  # the new layer 1's 5th turn, mid-week
    assert on_call(edited, [], NEXT_HANDOFF) == [B]
    found = shifts(edited, [], NOW, NEXT_HANDOFF)
    assert [(s.staff_id, s.start, s.end, s.layer) for s in found] == [
        (C, NOW, FRIDAY_NOON, 2),
        (D, FRIDAY_NOON, NEXT_HANDOFF, 1),
    ]
    assert schedule_from_json(schedule_json(edited)) == edited
    assert _edited(before, before, FRIDAY_NOON).running == ()  # nothing changes: nothing kept


def test_an_instant_after_a_kept_shift_keeps_it_then_the_old_definition() -> None:
    """A `next_handoff` edit keeps A to Monday; an edit from the Wednesday after keeps that,
    then the first edit's layer (C's turn) up to the instant, then the new layer."""
    first = _edited(_schedule(_weekly(A, B)), _schedule(_weekly(A, C, B)), ApplyFrom.NEXT_HANDOFF)
    wednesday = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)

    second = _edited(first, _schedule(_weekly(D)), wednesday)

    assert on_call(second, [], NOW) == [A]
    assert on_call(second, [], NEXT_HANDOFF) == [B]  # the first edit's rotation, 6th turn
    assert on_call(second, [], wednesday) == [D]
    early = _edited(first, _schedule(_weekly(D)), NOW + timedelta(hours=1))
    assert on_call(early, [], NOW) == [A]  # the kept shift is cut at the instant
    assert on_call(early, [], NOW + timedelta(hours=1)) == [D]
    assert [r.until for r in early.running] == [NOW + timedelta(hours=1)]
