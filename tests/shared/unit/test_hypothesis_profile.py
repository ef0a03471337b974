"""The suite's one Hypothesis profile (registered in tests/conftest.py)."""

import os

from hypothesis import HealthCheck, settings


def test_no_example_fails_for_being_slow() -> None:
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check


def test_examples_are_derandomized_exactly_in_ci() -> None:
    assert settings.default.derandomize is bool(os.environ.get("CI"))
