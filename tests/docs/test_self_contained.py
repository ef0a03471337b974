"""A newcomer's clone is all they have: every relative link in README.md and docs/*.md must
lead to a file inside the clone, never beside it."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Markdown links `[text](target)` and paths quoted in backticks that climb out (`../x`).
LINK = re.compile(r"\]\(([^)\s]+)\)")
QUOTED_PATH = re.compile(r"`(\.\./[^`\s]*)`")


def _relative_targets(text: str) -> list[str]:
    targets = [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]
    return targets + QUOTED_PATH.findall(text)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    # A folder of its own, so nothing beside the clone can satisfy a link by accident.
    target = tmp_path_factory.mktemp("alone") / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)],
        check=True,
        capture_output=True,
    )
    return target


def _pages(clone: Path) -> list[Path]:
    return [clone / "README.md", *sorted((clone / "docs").glob("*.md"))]


def test_every_relative_link_resolves_inside_a_fresh_clone(clone: Path) -> None:
    broken = []
    for page in _pages(clone):
        for target in _relative_targets(page.read_text("utf-8")):
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(clone.resolve()) or not path.exists():
                broken.append(f"{page.relative_to(clone)}: {target}")

    assert not broken, "links that lead outside the clone or nowhere:\n" + "\n".join(broken)


def test_the_link_check_sees_links_that_climb_out() -> None:
    assert _relative_targets("see [design](../shared/DESIGN.md) and `../shared/CONTRACT.md`") == [
        "../shared/DESIGN.md",
        "../shared/CONTRACT.md",
    ]
    assert _relative_targets("[site](https://example.org) [top](#top)") == []
