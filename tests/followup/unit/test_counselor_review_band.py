"""The policy's `notify_counselor_from_band`: which score bands ask the counselor's review, and
what a policy recorded before the field means (moderate and up, as every site had)."""

import pytest

from counseling_shared.codes import MeasureBand
from followup.domain import site
from followup.domain.policy import DEFAULT_POLICY, InvalidPolicy, policy_from_text

B = MeasureBand


@pytest.mark.parametrize(
    ("floor", "reviewed"),
    [
        ("moderate", {B.MODERATE, B.MODERATELY_SEVERE, B.SEVERE}),
        # GAD-7 has no moderately_severe: from there its scores of 15+ (severe) still go.
        ("moderately_severe", {B.MODERATELY_SEVERE, B.SEVERE}),
        ("severe", {B.SEVERE}),
        (None, set()),
    ],
)
def test_a_band_is_reviewed_from_the_sites_floor_up(
    floor: str | None, reviewed: set[MeasureBand]
) -> None:
    text = {**DEFAULT_POLICY.as_text(), "notify_counselor_from_band": floor}
    policy = policy_from_text(text)

    assert {band for band in MeasureBand if policy.counselor_reviews(band)} == reviewed
    assert policy_from_text(policy.as_text()) == policy  # as stored and replayed


def test_a_policy_set_before_the_field_reviews_from_moderate() -> None:
    old = DEFAULT_POLICY.as_text()
    del old["notify_counselor_from_band"]

    replayed = site.from_record("FollowUpPolicySet", old)

    assert isinstance(replayed, site.PolicySet)
    assert replayed.policy.notify_counselor_from_band is MeasureBand.MODERATE
    assert DEFAULT_POLICY.counselor_reviews(MeasureBand.MODERATE)
    assert not DEFAULT_POLICY.counselor_reviews(MeasureBand.MILD)


@pytest.mark.parametrize("text", ["mild", "minimal", "high"])
def test_a_floor_below_moderate_or_unknown_is_refused(text: str) -> None:
    with pytest.raises(InvalidPolicy) as refused:
        policy_from_text({**DEFAULT_POLICY.as_text(), "notify_counselor_from_band": text})
    assert refused.value.field == "notify_counselor_from_band"
