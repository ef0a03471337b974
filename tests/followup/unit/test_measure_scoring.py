"""PHQ-9 and GAD-7 scoring: totals, every band edge as published, the item-9 crisis rule."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counseling_shared.codes import Instrument, MeasureBand, RiskLevel
from followup.domain.measures.answers import (
    InvalidCheckinAnswer,
    assess,
    checkin_answers,
)
from followup.domain.measures.scoring import (
    InvalidAnswers,
    band_of,
    score,
    self_harm_risk,
)

M, MI, MO, MS, S = (
    MeasureBand.MINIMAL,
    MeasureBand.MILD,
    MeasureBand.MODERATE,
    MeasureBand.MODERATELY_SEVERE,
    MeasureBand.SEVERE,
)
# The published bands, written out as ranges (independent of the code's lower-bound table).
PHQ9_PUBLISHED = [(range(0, 5), M), (range(5, 10), MI), (range(10, 15), MO), (range(15, 20), MS)]
PHQ9_PUBLISHED.append((range(20, 28), S))
GAD7_PUBLISHED = [(range(0, 5), M), (range(5, 10), MI), (range(10, 15), MO), (range(15, 22), S)]


def published(table: list[tuple[range, MeasureBand]], total: int) -> MeasureBand:
    [band] = [band for span, band in table if total in span]
    return band


@pytest.mark.parametrize(
    ("instrument", "total", "band"),
    [
        (Instrument.PHQ9, 0, M),
        (Instrument.PHQ9, 4, M),
        (Instrument.PHQ9, 5, MI),
        (Instrument.PHQ9, 9, MI),
        (Instrument.PHQ9, 10, MO),
        (Instrument.PHQ9, 14, MO),
        (Instrument.PHQ9, 15, MS),
        (Instrument.PHQ9, 19, MS),
        (Instrument.PHQ9, 20, S),
        (Instrument.PHQ9, 27, S),
        (Instrument.GAD7, 0, M),
        (Instrument.GAD7, 4, M),
        (Instrument.GAD7, 5, MI),
        (Instrument.GAD7, 9, MI),
        (Instrument.GAD7, 10, MO),
        (Instrument.GAD7, 14, MO),
        (Instrument.GAD7, 15, S),
        (Instrument.GAD7, 21, S),
    ],
)
def test_every_band_edge_is_the_published_one(
    instrument: Instrument, total: int, band: MeasureBand
) -> None:
    assert band_of(instrument, total) is band


@pytest.mark.parametrize(("instrument", "top"), [(Instrument.PHQ9, 27), (Instrument.GAD7, 21)])
def test_a_total_outside_the_scale_is_refused(instrument: Instrument, top: int) -> None:
    for total in (-1, top + 1):
        with pytest.raises(InvalidAnswers):
            band_of(instrument, total)


def test_every_gad7_answer_scores_its_sum_in_its_published_band() -> None:
    # The whole answer space: 4^7 = 16 384 forms.
    for answers in itertools.product(range(4), repeat=7):
        result = score(Instrument.GAD7, answers)
        assert result.total == sum(answers)
        assert result.band is published(GAD7_PUBLISHED, sum(answers))


def test_every_phq9_total_and_item9_answer_is_scored_and_flagged_as_published() -> None:
    # The answer space of PHQ-9 (4^9) reduced without loss: the score depends on items 1-8
    # only through their sum, so every (sum of items 1-8, item 9) pair is checked.
    for first_eight in range(25):
        for item9 in range(4):
            spread = [min(3, max(0, first_eight - 3 * i)) for i in range(8)]
            answers = [*spread, item9]
            assert sum(spread) == first_eight
            result = score(Instrument.PHQ9, answers)
            assert result.total == first_eight + item9
            assert result.band is published(PHQ9_PUBLISHED, result.total)
            expected = {0: None, 1: RiskLevel.MODERATE}.get(item9, RiskLevel.HIGH)
            assert self_harm_risk(answers) is expected


@given(st.lists(st.integers(0, 3), min_size=9, max_size=9))
def test_any_phq9_form_scores_its_sum_and_item9_alone_decides_the_risk(
    answers: list[int],
) -> None:
    result = score(Instrument.PHQ9, answers)
    assert result.total == sum(answers)
    assert result.band is published(PHQ9_PUBLISHED, sum(answers))
    assert (self_harm_risk(answers) is None) == (answers[8] == 0)


@given(
    st.lists(st.integers(-3, 6), min_size=0, max_size=12),
    st.sampled_from(list(Instrument)),
)
def test_a_form_with_a_missing_extra_or_out_of_range_item_is_refused(
    answers: list[int], instrument: Instrument
) -> None:
    count = 9 if instrument is Instrument.PHQ9 else 7
    if len(answers) == count and all(0 <= a <= 3 for a in answers):
        assert score(instrument, answers).total == sum(answers)
    else:
        with pytest.raises(InvalidAnswers):
            score(instrument, answers)


def test_a_check_in_with_item9_at_two_assesses_as_high_risk_and_a_callback() -> None:
    answers = checkin_answers(
        2,
        True,
        {Instrument.PHQ9: [1, 1, 1, 1, 1, 1, 1, 1, 2], Instrument.GAD7: [0] * 7},
        asked=[Instrument.PHQ9, Instrument.GAD7],
        comment="  ",
    )
    result = assess(answers)
    assert result.risk_level is RiskLevel.HIGH
    assert result.wants_contact is True
    assert [(s.instrument, s.total, s.band) for s in result.scores] == [
        (Instrument.GAD7, 0, M),
        (Instrument.PHQ9, 10, MO),
    ]
    assert answers.comment is None


def test_a_check_in_missing_an_asked_instrument_or_with_an_unasked_one_is_refused() -> None:
    with pytest.raises(InvalidCheckinAnswer) as missing:
        checkin_answers(3, False, {}, asked=[Instrument.PHQ9])
    assert missing.value.field == "phq9"
    with pytest.raises(InvalidCheckinAnswer) as extra:
        checkin_answers(3, False, {Instrument.GAD7: [0] * 7}, asked=[])
    assert extra.value.field == "gad7"
    with pytest.raises(InvalidCheckinAnswer) as wellbeing:
        checkin_answers(6, False, {}, asked=[])
    assert wellbeing.value.field == "wellbeing"
