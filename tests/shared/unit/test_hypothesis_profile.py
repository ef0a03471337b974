"""The suite's one Hypothesis profile (registered in tests/conftest.py)."""

import os

from hypothesis import HealthCheck, settings


def loaded() -> settings:
    profile = settings.default
    assert profile is not None
    return profile


def test_no_example_fails_for_being_slow() -> None:
    assert loaded().deadline is None
    assert HealthCheck.too_slow in loaded().suppress_health_check


def test_examples_are_derandomized_exactly_in_ci() -> None:
    assert loaded().derandomize is bool(os.environ.get("CI"))
