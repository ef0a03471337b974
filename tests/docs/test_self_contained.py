"""A newcomer's clone is all they have: every relative link in README.md, docs/*.md and the
services' READMEs must lead to a file inside the clone, never beside it, and no page names a
document the clone does not hold (the team's own notes are not part of the product)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Markdown links `[text](target)` and paths quoted in backticks that climb out (`../x`).
LINK = re.compile(r"\]\(([^)\s]+)\)")
QUOTED_PATH = re.compile(r"`(\.\./[^`\s]*)`")
# A document named bare, as in "see DESIGN.md".
DOCUMENT_NAME = re.compile(r"\b[A-Za-z0-9_.-]+\.md\b")
# A section of a document, as in "DESIGN §9" (the name without its `.md`).
SECTION_OF = re.compile(r"\b([A-Za-z0-9_.-]+) §\s*\d")
# Laws are cited by section too; they are not documents of ours.
LAWS = {"HIPAA", "GDPR"}


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
    return [
        clone / "README.md",
        *sorted((clone / "docs").glob("*.md")),
        *sorted((clone / "services").glob("*/README.md")),
    ]


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


def test_no_page_names_a_document_the_clone_does_not_hold(clone: Path) -> None:
    held = {p.name for p in clone.rglob("*.md") if ".git" not in p.parts}
    missing = [
        f"{page.relative_to(clone)}: {name}"
        for page in _pages(clone)
        for name in sorted(set(DOCUMENT_NAME.findall(page.read_text("utf-8"))))
        if name not in held
    ]

    assert not missing, "pages naming documents outside the clone:\n" + "\n".join(missing)


def test_no_page_cites_a_section_of_a_document_the_clone_does_not_hold(clone: Path) -> None:
    held = {p.name for p in clone.rglob("*.md") if ".git" not in p.parts}
    cited = [
        f"{page.relative_to(clone)}: {name} §"
        for page in _pages(clone)
        for name in sorted(set(SECTION_OF.findall(page.read_text("utf-8"))))
        if name not in held | LAWS and f"{name}.md" not in held
    ]

    assert not cited, "pages citing sections of documents outside the clone:\n" + "\n".join(cited)


def test_the_section_check_sees_a_bare_document_name() -> None:
    assert SECTION_OF.findall("a deviation from DESIGN §4 and CONTRACT.md § 2") == [
        "DESIGN",
        "CONTRACT.md",
    ]


def _sources(clone: Path) -> list[Path]:
    folders = ("shared", "services", "tools", "bench", "tests", "deploy")
    return [
        path
        for folder in folders
        for suffix in ("*.py", "*.sql", "*.yaml", "*.yml", "*.toml")
        for path in sorted((clone / folder).rglob(suffix))
    ]


def test_no_code_comment_cites_a_section_of_a_document_the_clone_does_not_hold(
    clone: Path,
) -> None:
    held = {p.name for p in clone.rglob("*.md") if ".git" not in p.parts}
    own_tests = {clone / "tests" / "docs" / "test_self_contained.py"}
    cited = [
        f"{source.relative_to(clone)}: {name} §"
        for source in _sources(clone)
        if source not in own_tests
        for name in sorted(set(SECTION_OF.findall(source.read_text("utf-8"))))
        if name not in held | LAWS and f"{name}.md" not in held
    ]

    assert not cited, "code citing sections of documents outside the clone:\n" + "\n".join(cited)
