"""README's "Two commands" promise matches what `make test` does first: every Debian package
scripts/test-tools.sh installs (PyPI has none of them) is named there, with the root or sudo it
needs, so "only Python 3.11 and PyPI" is not claimed for `make test`."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section(text: str, heading: str) -> str:
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_names_what_make_test_installs_before_it_runs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/test-tools.sh" in test_recipe
    packages = re.findall(r"missing\+=\((\w[\w-]*)\)", (ROOT / "scripts/test-tools.sh").read_text())
    assert packages, "scripts/test-tools.sh installs no package any more: update this test"
    promise = _section((ROOT / "README.md").read_text(), "## Two commands")
    for package in packages:
        assert f"`{package}`" in promise, f"README's Two commands does not name {package}"
    assert "root or sudo" in promise
