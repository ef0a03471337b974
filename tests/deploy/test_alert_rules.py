"""The alert rules' behaviour, by promtool's rule unit tests (tests/deploy/rules/*.yaml): series
in, the alerts that fire (or do not) at given times out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import venv_tool

RULE_TESTS = sorted((Path(__file__).parent / "rules").glob("*.yaml"))


def test_there_are_rule_tests() -> None:
    assert RULE_TESTS


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda p: p.stem)
def test_promtool_rule_test_passes(rule_test: Path) -> None:
    # No PyPI wheel ships promtool: Debian's `prometheus` package does (.ci/run installs it).
    promtool = venv_tool("promtool")
    assert promtool is not None, "promtool is missing: apt-get install -y prometheus"
    result = subprocess.run(
        [str(promtool), "test", "rules", rule_test.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=rule_test.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
