"""NATS subject matching, as the relay uses it to tell "no stream stores this subject"."""

import pytest

from counseling_shared.relay import subject_matches


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("booking.*.SessionCompleted", "booking.s1.SessionCompleted", True),
        ("booking.*.SessionCompleted", "booking.s1.SessionMissed", False),
        ("booking.*.SessionCompleted", "booking.SessionCompleted", False),
        ("followup.>", "followup.s1.FollowUpDue", True),
        ("followup.>", "followup", False),
        ("dlq.>", "dlq.redrive.notify-crisis", True),
        ("crisis.*", "crisis.s1.AlertRaised", False),
        ("notify.s1.X", "notify.s1.X", True),
    ],
)
def test_a_subject_matches_a_pattern_token_by_token(
    pattern: str, subject: str, matches: bool
) -> None:
    assert subject_matches(pattern, subject) is matches
