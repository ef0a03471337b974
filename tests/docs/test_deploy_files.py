"""Every file under deploy/ is where operators look for it: README's repository layout names
each directory of deploy/, and docs/operations.md's Files table each file (or its directory)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_the_readme_layout_names_every_directory_of_deploy() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = next(line for line in readme.splitlines() if line.startswith("deploy/ "))
    missing = [
        d.name for d in sorted(DEPLOY.iterdir()) if d.is_dir() and f"{d.name}/" not in layout
    ]
    assert not missing, f"README's layout line for deploy/ omits {missing}"


def _files_table() -> list[str]:
    """The paths the rows of docs/operations.md's Files table name (`{a,b}` expanded)."""
    guide = (ROOT / "docs/operations.md").read_text()
    table = guide.split("\n## Files\n", 1)[1].strip().split("\n\n", 1)[0]
    paths = []
    for row in table.splitlines():
        for code in re.findall(r"`([^`]+)`", row.split(" | ", 1)[0]):
            brace = re.fullmatch(r"(.*)\{(.*)\}(.*)", code)
            paths += [f"{brace[1]}{b}{brace[3]}" for b in brace[2].split(",")] if brace else [code]
    return paths


def test_the_operations_files_table_covers_every_file_under_deploy() -> None:
    named = [p.rstrip("/") for p in _files_table()]
    assert "docker-compose.yml" in named  # the table was found
    missing = [
        str(f.relative_to(ROOT))
        for f in sorted(DEPLOY.rglob("*"))
        if f.is_file()
        and not any(
            str(f.relative_to(ROOT)) == n or str(f.relative_to(ROOT)).startswith(f"{n}/")
            for n in named
        )
    ]
    assert not missing, f"docs/operations.md's Files table omits {missing}"
