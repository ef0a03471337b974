"""The lines read with a policy: only true ones (a schedule-only level is not 'nobody')."""

from datetime import timedelta
from uuid import uuid4

from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.policy_warnings import (
    FALLBACK_ALL_DEACTIVATED,
    NO_FALLBACK,
    TEXTS_STOPPED,
    policy_warnings,
)

MINUTE = timedelta(minutes=1)


def test_a_schedule_only_level_with_a_fallback_has_nothing_to_warn_about() -> None:
    rota, backup = uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((), MINUTE, (rota,)),), fallback_staff_ids=(backup,))

    assert policy_warnings(policy, frozenset()) == []


def test_a_level_whose_named_staff_are_gone_still_pages_its_schedules() -> None:
    left, rota, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((left,), MINUTE, (rota,)),), fallback_staff_ids=(backup,)
    )

    assert policy_warnings(policy, {left}) == [
        f"level 1: {left} is deactivated and will be skipped",
        "level 1: every staff member named is deactivated; only whoever its schedules have on"
        " call is paged",
    ]


def test_a_level_of_deactivated_staff_only_pages_nobody() -> None:
    left, stayed, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((stayed,), MINUTE), PolicyLevel((left,), MINUTE)),
        fallback_staff_ids=(backup,),
    )

    assert policy_warnings(policy, {left}) == [
        f"level 2: {left} is deactivated and will be skipped",
        "level 2: everyone is deactivated, nobody is paged at this level",
    ]


def test_a_level_with_someone_left_only_names_who_is_skipped() -> None:
    left, stayed, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((left, stayed), MINUTE),), fallback_staff_ids=(backup,))

    assert policy_warnings(policy, {left}) == [
        f"level 1: {left} is deactivated and will be skipped"
    ]


def test_no_fallback_means_nobody_more_is_paged_when_the_chain_is_exhausted() -> None:
    policy = EscalationPolicy((PolicyLevel((uuid4(),), MINUTE),))

    assert policy_warnings(policy) == [NO_FALLBACK]


def test_a_fallback_of_deactivated_staff_only_pages_nobody() -> None:
    first, second, staff = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy((PolicyLevel((staff,), MINUTE),), fallback_staff_ids=(first, second))

    assert policy_warnings(policy, {first}) == [
        f"fallback: {first} is deactivated and will be skipped"
    ]
    assert policy_warnings(policy, {first, second}) == [
        f"fallback: {first} is deactivated and will be skipped",
        f"fallback: {second} is deactivated and will be skipped",
        FALLBACK_ALL_DEACTIVATED,
    ]


def test_each_named_person_who_texted_stop_is_a_line_but_still_paged() -> None:
    quiet, other, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (PolicyLevel((quiet, other), MINUTE),), fallback_staff_ids=(backup, quiet)
    )

    assert policy_warnings(policy, frozenset(), {quiet}) == [
        f"level 1: {quiet} {TEXTS_STOPPED}",
        f"fallback: {quiet} {TEXTS_STOPPED}",
    ]
    # Deactivated says it all: no second line about their texts.
    assert policy_warnings(policy, {quiet}, {quiet}) == [
        f"level 1: {quiet} is deactivated and will be skipped",
        f"fallback: {quiet} is deactivated and will be skipped",
    ]


def test_a_call_not_sooner_than_the_levels_ack_timeout_is_flagged() -> None:
    first, second, backup = uuid4(), uuid4(), uuid4()
    policy = EscalationPolicy(
        (
            PolicyLevel((first,), 5 * MINUTE, call_after=2 * MINUTE),
            PolicyLevel((second,), 5 * MINUTE, call_after=5 * MINUTE),
        ),
        fallback_staff_ids=(backup,),
    )

    assert policy_warnings(policy) == [
        "level 2: call_after PT5M is not shorter than ack_timeout PT5M: the call comes only as"
        " the next level is paged; a shorter call_after calls while this level can still"
        " acknowledge"
    ]
