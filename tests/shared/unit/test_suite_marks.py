"""Every integration test module carries the `integration` mark (`-m "not integration"` runs
without servers). A `pytestmark` in a conftest.py marks nothing, so each module says it."""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "folder",
    [f"{s}/integration" for s in ("booking", "crisis", "followup", "notify", "opsctl", "shared")]
    + ["devstack"],
)
def test_every_integration_module_is_marked_integration(folder: str) -> None:
    unmarked = [
        str(module.relative_to(TESTS))
        for module in sorted((TESTS / folder).glob("test_*.py"))
        if "pytest.mark.integration" not in module.read_text()
    ]
    assert unmarked == []
