"""The policy's `review_bands`: a floor per instrument for the counselor's review, each one of
that instrument's own bands; instruments it does not name keep `notify_counselor_from_band`,
whose `moderately_severe` means GAD-7's next band up, `severe` (a total of 15)."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counseling_shared.codes import Instrument, MeasureBand
from followup.domain import site
from followup.domain.measures.scoring import max_score, score
from followup.domain.policy import (
    DEFAULT_POLICY,
    REVIEW_BANDS,
    InvalidPolicy,
    policy_from_text,
    review_bands_of,
)

B = MeasureBand
PHQ9, GAD7 = Instrument.PHQ9, Instrument.GAD7

# The lowest total each floor emails, written out from the published bands (not derived from
# the code under test): GAD-7 has no moderately severe band, so that floor is its severe, 15.
LOWEST_REVIEWED_TOTAL = {
    PHQ9: {B.MODERATE: 10, B.MODERATELY_SEVERE: 15, B.SEVERE: 20},
    GAD7: {B.MODERATE: 10, B.MODERATELY_SEVERE: 15, B.SEVERE: 15},
}


def policy(**fields: Any) -> Any:
    return policy_from_text({**DEFAULT_POLICY.as_text(), **fields})


def answers_totalling(instrument: Instrument, total: int) -> list[int]:
    items = 9 if instrument is PHQ9 else 7
    return [min(3, max(0, total - 3 * n)) for n in range(items)]


@pytest.mark.parametrize(("total", "reviewed"), [(9, False), (14, False), (15, True), (21, True)])
def test_the_site_wide_moderately_severe_asks_gad7_from_its_severe_band(
    total: int, reviewed: bool
) -> None:
    scored = score(GAD7, answers_totalling(GAD7, total))
    site_wide = policy(notify_counselor_from_band="moderately_severe")

    assert site_wide.counselor_reviews(scored.band, GAD7) is reviewed
    assert site_wide.counselor_reviews(scored.band) is reviewed  # as before instruments


def test_each_instrument_offers_its_own_bands_from_moderate_up() -> None:
    assert review_bands_of(PHQ9) == (B.MODERATE, B.MODERATELY_SEVERE, B.SEVERE)
    assert review_bands_of(GAD7) == (B.MODERATE, B.SEVERE)


review_maps = st.dictionaries(
    st.sampled_from(list(Instrument)),
    st.none() | st.sampled_from(list(B)),
).map(lambda m: {i: b for i, b in m.items() if b is None or b in review_bands_of(i)})


@given(
    site_floor=st.sampled_from([*REVIEW_BANDS, None]),
    bands=review_maps,
    instrument=st.sampled_from(list(Instrument)),
    data=st.data(),
)
def test_a_score_is_reviewed_from_its_instruments_floor_else_the_sites(
    site_floor: MeasureBand | None,
    bands: dict[Instrument, MeasureBand | None],
    instrument: Instrument,
    data: st.DataObject,
) -> None:
    total = data.draw(st.integers(0, max_score(instrument)))
    chosen = policy(
        notify_counselor_from_band=site_floor,
        review_bands={i.value: b.value if b else None for i, b in bands.items()},
    )
    floor = bands.get(instrument, site_floor)  # a None entry is "never", not absent
    expected = floor is not None and total >= LOWEST_REVIEWED_TOTAL[instrument][floor]

    scored = score(instrument, answers_totalling(instrument, total))

    assert chosen.counselor_reviews(scored.band, instrument) is expected
    assert policy_from_text(chosen.as_text()) == chosen  # as stored and replayed


def test_a_per_instrument_map_overrides_the_site_wide_band_in_both_directions() -> None:
    chosen = policy(
        notify_counselor_from_band="moderate",
        review_bands={"phq9": None, "gad7": "severe"},
    )

    assert not chosen.counselor_reviews(B.SEVERE, PHQ9)  # never, though the site says moderate
    assert not chosen.counselor_reviews(B.MODERATE, GAD7)
    assert chosen.counselor_reviews(B.SEVERE, GAD7)
    assert chosen.as_text()["review_bands"] == {"gad7": "severe", "phq9": None}


def test_a_policy_recorded_without_the_map_keeps_its_site_wide_band() -> None:
    old = {**DEFAULT_POLICY.as_text(), "notify_counselor_from_band": "severe"}
    del old["review_bands"]

    replayed = site.from_record("FollowUpPolicySet", old)

    assert isinstance(replayed, site.PolicySet)
    assert replayed.policy.review_bands == {}
    assert replayed.policy.counselor_reviews(B.SEVERE, PHQ9)
    assert not replayed.policy.counselor_reviews(B.MODERATELY_SEVERE, PHQ9)


@pytest.mark.parametrize(
    ("bands", "field"),
    [
        ({"gad7": "moderately_severe"}, "review_bands.gad7"),  # not a GAD-7 band
        ({"phq9": "mild"}, "review_bands.phq9"),  # below moderate
        ({"gad7": "minimal"}, "review_bands.gad7"),
        ({"phq9": "high"}, "review_bands.phq9"),
        ({"phq9": 3}, "review_bands.phq9"),
        ({"bdi2": "moderate"}, "review_bands.bdi2"),  # unknown instrument
    ],
)
def test_a_band_outside_the_instruments_own_or_an_unknown_instrument_is_refused(
    bands: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidPolicy) as refused:
        policy(review_bands=bands)
    assert refused.value.field == field
