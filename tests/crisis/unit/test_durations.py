from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisis.domain.durations import InvalidDuration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1S", timedelta(seconds=1)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT5M", timedelta(minutes=5)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(days=14)),
        ("pt2s", timedelta(seconds=2)),
    ],
)
def test_fixed_length_durations_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "P1M", "P1Y", "30", "PT1H2S3M", "-PT1S", "P1DT", "PT99999999999999999999S"],
)
def test_calendar_units_and_malformed_text_are_refused(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration(text)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_formatting_then_parsing_gives_the_same_duration(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


def test_formatting_is_the_short_form() -> None:
    assert format_duration(timedelta(seconds=90)) == "PT1M30S"
    assert format_duration(timedelta(days=1)) == "P1D"
    assert format_duration(timedelta(0)) == "PT0S"
