"""Satisfaction ratings summed up per site and per counselor."""

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from followup.domain.satisfaction import summarise, summarise_ratings


def test_no_answers_is_a_count_of_zero_and_no_mean() -> None:
    summary = summarise_ratings([])
    assert (summary.count, summary.mean) == (0, None)
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_each_counselor_is_summarised_apart_and_the_site_over_all() -> None:
    kim, lee = uuid4(), uuid4()
    summary = summarise([(kim, 5), (kim, 4), (lee, 2), (None, 3)])
    assert (summary.overall.count, summary.overall.mean) == (4, 3.5)
    assert summary.overall.distribution == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
    assert summary.per_counselor[kim].mean == 4.5
    assert summary.per_counselor[lee].distribution[2] == 1
    assert summary.per_counselor[None].count == 1


@given(st.lists(st.integers(1, 5)))
def test_the_distribution_adds_up_to_the_count_and_gives_the_mean(ratings: list[int]) -> None:
    summary = summarise_ratings(ratings)
    assert sum(summary.distribution.values()) == summary.count == len(ratings)
    if ratings:
        assert summary.mean == round(sum(ratings) / len(ratings), 2)


def test_a_rating_outside_1_to_5_is_refused() -> None:
    with pytest.raises(ValueError, match="1-5"):
        summarise_ratings([0])
