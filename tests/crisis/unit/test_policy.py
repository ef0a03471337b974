from datetime import timedelta
from uuid import uuid4

import pytest

from crisis.domain.policy import InvalidPolicy, LevelDraft, escalation_policy


def test_a_valid_draft_becomes_a_policy_with_durations() -> None:
    a, b = uuid4(), uuid4()
    policy = escalation_policy([LevelDraft([a], "PT30S"), LevelDraft([b], "PT5M")], repeat=2)

    assert [level.staff_ids for level in policy.levels] == [(a,), (b,)]
    assert policy.level(2).ack_timeout == timedelta(minutes=5)
    assert policy.passes == 3


def test_every_bad_field_is_named() -> None:
    staff = uuid4()
    with pytest.raises(InvalidPolicy) as caught:
        escalation_policy(
            [
                LevelDraft([], "PT1M"),
                LevelDraft([staff, staff], "soon"),
                LevelDraft([uuid4()], "PT0.5S"),
            ],
            repeat=-1,
        )

    fields = {e.field for e in caught.value.errors}
    assert fields == {
        "repeat",
        "levels.0.staff_ids",
        "levels.1.staff_ids",
        "levels.1.ack_timeout",
        "levels.2.ack_timeout",
    }


def test_a_policy_needs_at_least_one_level() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        escalation_policy([])
    assert [e.field for e in caught.value.errors] == ["levels"]


def test_ack_expires_after_is_optional_and_bounded() -> None:
    level = [LevelDraft([uuid4()], "PT5M")]

    assert escalation_policy(level).ack_expires_after is None
    assert escalation_policy(level, ack_expires_after="PT4H").ack_expires_after == timedelta(
        hours=4
    )
    for bad in ("PT30S", "P31D", "soon"):
        with pytest.raises(InvalidPolicy) as raised:
            escalation_policy(level, ack_expires_after=bad)
        assert [e.field for e in raised.value.errors] == ["ack_expires_after"]


def test_a_levels_call_after_is_optional_and_from_pt0s_to_its_ack_timeout() -> None:
    def level(call_after: str | None) -> LevelDraft:
        return LevelDraft([uuid4()], "PT5M", call_after=call_after)

    policy = escalation_policy([level(None), level("PT0S"), level("PT2M"), level("PT5M")])

    assert [lvl.call_after for lvl in policy.levels] == [
        None,
        timedelta(0),
        timedelta(minutes=2),
        timedelta(minutes=5),
    ]
    with pytest.raises(InvalidPolicy) as raised:
        escalation_policy([level("PT2M"), level("PT5M1S"), level("soon"), level("-PT1M")])
    assert [e.field for e in raised.value.errors] == [
        "levels.1.call_after",
        "levels.2.call_after",
        "levels.3.call_after",
    ]
