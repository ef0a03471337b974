"""Round-robin levels (pure): whose turn it is, who is passed over, and what the alert pages."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st

from counseling_shared.codes import RiskLevel, RiskSource
from crisis.adapters.codec import policy_from_json, policy_levels_json
from crisis.domain.alert import EscalationDue, ReceiveFlag, decide, fold, open_alert
from crisis.domain.escalation import FIRST_STEP, Step
from crisis.domain.policy import (
    EscalationPolicy,
    LevelDraft,
    PolicyLevel,
    escalation_policy,
    has_round_robin,
)
from crisis.domain.policy_warnings import ROUND_ROBIN_ONE_PERSON, policy_warnings
from crisis.domain.round_robin import Turn, Turns, choose
from crisis.domain.timeline import (
    ALREADY_PAGED,
    STAFF_DEACTIVATED,
    STAFF_UNREACHABLE,
    AlertEvent,
    PageRequested,
    PageSkipped,
    RoundRobinTurn,
    kind_of,
    timeline_details,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _after(turns: list[UUID]) -> Turn:
    return Turn(len(turns), turns[-1] if turns else None)


def test_the_first_turn_goes_to_the_first_person_and_each_next_one_to_the_next() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    people = [a, b, c]
    given_to: list[UUID] = []
    for _ in range(7):
        choice = choose(people, _after(given_to), frozenset())
        assert choice.staff_id is not None
        assert choice.turn == len(given_to) + 1
        given_to.append(choice.staff_id)

    assert given_to == [a, b, c, a, b, c, a]


def test_someone_who_cannot_be_paged_is_passed_over_to_the_next_in_turn() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()

    choice = choose([a, b, c], Turn(1, a), {b})

    assert (choice.staff_id, choice.passed_over, choice.after_staff_id) == (c, (b,), a)


def test_when_nobody_can_be_paged_there_is_no_choice() -> None:
    a, b = uuid4(), uuid4()

    choice = choose([a, b], Turn(4, b), {a, b})

    assert (choice.staff_id, choice.passed_over) == (None, (a, b))
    assert choose([], Turn(), frozenset()).staff_id is None


def test_after_someone_left_the_level_the_turn_count_picks_the_next() -> None:
    a, b, c, gone = uuid4(), uuid4(), uuid4(), uuid4()

    choice = choose([a, b, c], Turn(4, gone), frozenset())

    assert (choice.staff_id, choice.after_staff_id) == (b, None)  # 4 mod 3 = position 1


@given(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=50))
def test_n_turns_in_a_row_page_n_different_people(size: int, taken: int) -> None:
    people = [uuid4() for _ in range(size)]
    turn = Turn(taken, people[taken % size] if taken else None)
    chosen = []
    for _ in range(size):
        choice = choose(people, turn, frozenset())
        assert choice.staff_id is not None
        chosen.append(choice.staff_id)
        turn = Turn(choice.turn, choice.staff_id)

    assert sorted(chosen) == sorted(people)


@given(st.integers(min_value=2, max_value=8), st.data())
def test_the_choice_is_never_someone_who_cannot_be_paged(size: int, data: st.DataObject) -> None:
    people = [uuid4() for _ in range(size)]
    cannot = set(data.draw(st.sets(st.sampled_from(people), max_size=size - 1)))
    last = data.draw(st.sampled_from([None, *people]))

    choice = choose(people, Turn(data.draw(st.integers(0, 20)), last), cannot)

    assert choice.staff_id is not None
    assert choice.staff_id not in cannot
    assert set(choice.passed_over) <= cannot


def _open(
    policy: EscalationPolicy,
    turns: Turns,
    inactive_staff: frozenset[UUID] = frozenset(),
    unreachable_staff: frozenset[UUID] = frozenset(),
) -> list[AlertEvent]:
    command = ReceiveFlag(
        uuid4(),
        RiskLevel.HIGH,
        RiskSource.INTEGRATION,
        policy,
        inactive_staff=inactive_staff,
        unreachable_staff=unreachable_staff,
        turns=turns,
    )
    return open_alert(uuid4(), uuid4(), uuid4(), command, T0)


def _paged(events: list[AlertEvent]) -> list[tuple[UUID, int]]:
    return [(e.staff_id, e.level) for e in events if isinstance(e, PageRequested)]


def test_a_round_robin_level_pages_one_person_and_the_timeline_says_whose_turn() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b, c), MINUTE, round_robin=True),))

    events = _open(policy, {1: Turn(5, a)})

    assert _paged(events) == [(b, 1)]
    [turn] = [e for e in events if isinstance(e, RoundRobinTurn)]
    assert (turn.staff_id, turn.turn, turn.pool, turn.after_staff_id) == (b, 6, 3, a)
    assert [kind_of(e) for e in events][-2:] == ["round_robin_turn", "page_requested"]


def test_a_level_without_round_robin_still_pages_everyone() -> None:
    a, b = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b), MINUTE),))

    assert _paged(_open(policy, {1: Turn(1, a)})) == [(a, 1), (b, 1)]


def test_deactivated_and_unreachable_people_are_passed_over_each_with_its_reason() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b, c), MINUTE, round_robin=True),))

    events = _open(
        policy,
        {1: Turn(3, c)},
        inactive_staff=frozenset({a}),
        unreachable_staff=frozenset({b}),
    )

    assert _paged(events) == [(c, 1)]
    skipped = [(e.staff_id, e.reason) for e in events if isinstance(e, PageSkipped)]
    assert skipped == [(a, STAFF_DEACTIVATED), (b, STAFF_UNREACHABLE)]


def test_a_round_robin_level_with_nobody_pageable_is_skipped_to_the_next_level() -> None:
    a, backup = uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((a,), MINUTE, round_robin=True), PolicyLevel((backup,), MINUTE))
    )

    events = _open(policy, {}, inactive_staff=frozenset({a}))

    assert _paged(events) == [(backup, 2)]
    assert "level_skipped" in [kind_of(e) for e in events]
    assert not [e for e in events if isinstance(e, RoundRobinTurn)]


def test_the_ack_timeout_moves_on_to_the_next_level_not_the_next_person() -> None:
    a, b, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((a, b), MINUTE, round_robin=True), PolicyLevel((backup,), MINUTE))
    )
    opened = _open(policy, {})
    alert = fold(None, opened)
    assert alert is not None

    later = decide(alert, EscalationDue(FIRST_STEP, turns={1: Turn(1, a)}), T0 + MINUTE)

    assert _paged(opened) == [(a, 1)]
    assert _paged(later) == [(backup, 2)]


def test_the_repeated_pass_pages_the_next_person_in_turn() -> None:
    a, b = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b), MINUTE, round_robin=True),), repeat=1)
    alert = fold(None, _open(policy, {}))
    assert alert is not None

    again = decide(alert, EscalationDue(FIRST_STEP, turns={1: Turn(1, a)}), T0 + MINUTE)

    assert _paged(again) == [(b, 1)]
    assert [e.cycle for e in again if isinstance(e, RoundRobinTurn)] == [1]
    assert fold(alert, again).step == Step(1, 1)  # type: ignore[union-attr]


def test_round_robin_is_kept_through_the_stored_policy_and_absent_when_false() -> None:
    a, b = uuid4(), uuid4()
    policy = escalation_policy(
        [LevelDraft([a, b], "PT2M", round_robin=True), LevelDraft([a], "PT5M")]
    )

    stored = policy_levels_json(policy)

    assert stored[0]["round_robin"] is True
    assert "round_robin" not in stored[1]
    assert policy_from_json(stored, policy.repeat) == policy
    assert has_round_robin(policy)
    assert not has_round_robin(EscalationPolicy((PolicyLevel((a,), MINUTE),)))


def test_warnings_name_a_round_robin_level_of_one_person_and_a_long_wait() -> None:
    alone, backup = uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((alone,), timedelta(minutes=30), round_robin=True),),
        fallback_staff_ids=(backup,),
    )

    warnings = policy_warnings(policy)

    assert warnings[0] == f"level 1: {ROUND_ROBIN_ONE_PERSON}"
    assert warnings[1].startswith("level 1: round robin pages one person, who has PT30M")
    shared = EscalationPolicy(
        (PolicyLevel((alone, uuid4()), MINUTE, round_robin=True),), fallback_staff_ids=(backup,)
    )
    assert policy_warnings(shared) == []


# --- one alert never pages the same person twice while someone is unpaged -------------------


def test_someone_this_alert_already_paged_keeps_their_place_and_the_next_stands_in() -> None:
    a, b, c, d = uuid4(), uuid4(), uuid4(), uuid4()

    choice = choose([a, b, c, d], Turn(1, a), frozenset(), paged_already={b})

    assert (choice.staff_id, choice.kept_place, choice.everyone_paged) == (c, (b,), False)
    assert choice.next_turn == Turn(2, a, (c,))  # the rotation still stands after a: b is next


def test_the_stand_in_is_passed_over_once_when_the_rotation_reaches_their_place() -> None:
    a, b, c, d = uuid4(), uuid4(), uuid4(), uuid4()
    people = [a, b, c, d]
    turn = Turn(1, a)
    given_to = []
    for paged_already in ({b}, set(), set(), set(), set(), set()):
        choice = choose(people, turn, frozenset(), paged_already)
        assert choice.staff_id is not None
        assert choice.next_turn is not None
        given_to.append(choice.staff_id)
        turn = choice.next_turn

    # c stood in for b; b kept their place; c's own turn was settled; then the usual order.
    assert given_to == [c, b, d, a, b, c]
    assert turn.early == ()


def test_when_the_alert_paged_everyone_the_one_whose_turn_it_is_is_paged_again() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()

    choice = choose([a, b, c], Turn(4, a), {c}, paged_already={a, b})

    assert (choice.staff_id, choice.everyone_paged, choice.passed_over) == (b, True, ())
    assert choice.next_turn == Turn(5, b, ())


@given(st.integers(min_value=1, max_value=6), st.data())
def test_one_alert_never_pages_the_same_person_twice_while_someone_is_unpaged(
    size: int, data: st.DataObject
) -> None:
    """Any rotation state, any people who cannot be paged, other alerts taking turns between
    this alert's pagings: each paging of the level by one alert is someone it has not paged
    while the level has someone pageable it has not paged."""
    people = [uuid4() for _ in range(size)]
    cannot = frozenset(data.draw(st.sets(st.sampled_from(people), max_size=size)))
    pageable = set(people) - cannot
    early = tuple(data.draw(st.lists(st.sampled_from(people), max_size=4)))
    turn = Turn(data.draw(st.integers(0, 30)), data.draw(st.sampled_from([None, *people])), early)
    paged: set[UUID] = set(data.draw(st.sets(st.sampled_from(people))))
    for _ in range(size + 2):
        for _ in range(data.draw(st.integers(0, 3))):  # other alerts of the site take turns
            other = choose(people, turn, cannot, frozenset())
            turn = other.next_turn or turn
        choice = choose(people, turn, cannot, frozenset(paged))
        if not pageable:
            assert choice.staff_id is None
            return
        assert choice.staff_id is not None
        assert choice.staff_id not in cannot
        if pageable - paged:
            assert choice.staff_id not in paged
            assert not choice.everyone_paged
        else:
            assert choice.everyone_paged
        paged.add(choice.staff_id)
        assert choice.next_turn is not None
        turn = choice.next_turn


@given(st.integers(min_value=2, max_value=6), st.data())
def test_stand_ins_keep_the_turns_even_over_a_round(size: int, data: st.DataObject) -> None:
    """However many stand-ins, alerts that each page the level once give every person the
    same number of turns, give or take the turns still owed."""
    people = [uuid4() for _ in range(size)]
    turn = Turn()
    counts = dict.fromkeys(people, 0)
    for _ in range(data.draw(st.integers(size, 6 * size))):
        paged = frozenset(data.draw(st.sets(st.sampled_from(people), max_size=size - 1)))
        choice = choose(people, turn, frozenset(), paged)
        assert choice.staff_id is not None
        assert choice.next_turn is not None
        counts[choice.staff_id] += 1
        turn = choice.next_turn
    owed = len(turn.early)
    assert max(counts.values()) - min(counts.values()) <= 1 + owed


def test_a_repeated_pass_pages_someone_the_alert_has_not_paged_though_turns_moved_on() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b, c), MINUTE, round_robin=True),), repeat=2)
    alert = fold(None, _open(policy, {}))  # pages a
    assert alert is not None

    # Two alerts of the site took turns since (b, c): the rotation is back at a.
    again = decide(alert, EscalationDue(FIRST_STEP, turns={1: Turn(3, c)}), T0 + MINUTE)

    assert _paged(again) == [(b, 1)]
    skipped = [(e.staff_id, e.reason) for e in again if isinstance(e, PageSkipped)]
    assert skipped == [(a, ALREADY_PAGED)]
    [turn] = [e for e in again if isinstance(e, RoundRobinTurn)]
    assert (turn.rotation_after, turn.early, turn.everyone_paged) == (c, (b,), False)


def test_a_round_robin_level_after_a_level_that_paged_everyone_pages_someone_new() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((a,), MINUTE), PolicyLevel((a, b, c), MINUTE, round_robin=True))
    )
    alert = fold(None, _open(policy, {}))
    assert alert is not None

    later = decide(alert, EscalationDue(FIRST_STEP, turns={2: Turn(3, c)}), T0 + MINUTE)

    assert _paged(later) == [(b, 2)]


def test_once_the_alert_paged_everyone_the_timeline_says_so() -> None:
    a, b = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((a, b), MINUTE, round_robin=True),), repeat=2)
    alert = fold(None, _open(policy, {}))  # a
    assert alert is not None
    second = decide(alert, EscalationDue(FIRST_STEP, turns={1: Turn(1, a)}), T0 + MINUTE)
    alert = fold(alert, second)  # b
    assert alert is not None

    third = decide(alert, EscalationDue(Step(1, 1), turns={1: Turn(2, b)}), T0 + 2 * MINUTE)

    assert _paged(third) == [(a, 1)]
    [turn] = [e for e in third if isinstance(e, RoundRobinTurn)]
    assert turn.everyone_paged
    assert not [e for e in third if isinstance(e, PageSkipped)]
    assert timeline_details(turn)["everyone_paged"] is True
