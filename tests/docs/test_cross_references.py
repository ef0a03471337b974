"""A reader who follows a reference lands where it says: a link's `#anchor` is a heading of the
page it names, an HTML image or link (`src=`, `href=`) names a file that exists, and a section
cited by name (`docs/security.md`, "The bus"; notify's README, "Calls"; in code comments
README, "Calls" for the service's own) is a heading or a bold lead-in of that document.
test_self_contained checks that linked files exist; nothing checked the part after `#` or the
sections cited in prose, and docs/security.md sent readers to the README for a section that
is in notify's README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("booking", "followup", "notify", "crisis")
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *(ROOT / "services" / s / "README.md" for s in SERVICES),
]
SOURCE_SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".toml", ".env", ".sh"}
SOURCE_FOLDERS = ("shared", "services", "tools", "bench", "tests", "deploy", "scripts")

MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
HTML_TARGET = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
# A bold lead-in, as "- **Rotating the link signing key.** Set …" (not a run of asterisks).
BOLD = re.compile(r"\*\*([^*\s][^*]*?)\*\*")
# A document, then a quoted section: `docs/x.md`, "S" · docs/x.md ("S") · notify's README, "S".
CITATION = re.compile(
    r"(?P<doc>[\w./-]+\.md|(?:(?P<owner>booking|followup|notify|crisis)'s )?README)"
    r"`?\)?,?[ ]\(?\"(?P<section>[^\"]{2,80})\""
)
OUR_PAGES = {p.name for p in PAGES}


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (not `-` or `_`),
    each space a hyphen."""
    text = re.sub(r"[`*]|<[^>]+>", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found | set(re.findall(r"<a (?:name|id)=\"([^\"]+)\"", text))


def section_titles(text: str) -> list[str]:
    titles = HEADING.findall(FENCE.sub("", text)) + BOLD.findall(text)
    return [re.sub(r"[`*]", "", t).strip().rstrip(".:").lower() for t in titles]


def _flat(text: str, code: bool) -> str:
    """The text with its lines joined (a citation may wrap), code comments' `#` dropped."""
    joiner = r"[ \t]*\n[ \t]*(?:#+[ \t]*)?" if code else r"[ \t]*\n[ \t]*"
    return re.sub(joiner, " ", text)


def cited_document(source: Path, doc: str, owner: str | None) -> Path | None:
    """The document a citation in `source` names. A bare "README" is the root README in the
    pages, and the service's own README in a service's code and tests."""
    if owner:
        return ROOT / "services" / owner / "README.md"
    if doc == "README":
        parts = source.relative_to(ROOT).parts
        if source.suffix != ".md" and parts[0] in ("services", "tests") and parts[1] in SERVICES:
            return ROOT / "services" / parts[1] / "README.md"
        return ROOT / "README.md"
    for base in (source.parent, ROOT):
        if (base / doc).is_file():
            return (base / doc).resolve()
    return None


def citations(text: str, source: Path) -> list[tuple[Path | None, str, str]]:
    """(document, its name as written, section) of each section of ours `text` (the contents
    of `source`) cites by name. Documents not in the repository are test_self_contained's."""
    return [
        (cited_document(source, m["doc"], m["owner"]), m["doc"], m["section"])
        for m in CITATION.finditer(_flat(text, code=source.suffix != ".md"))
        if Path(m["doc"]).name in OUR_PAGES or m["doc"] == "README"
    ]


def names_a_section(section: str, titles: list[str]) -> bool:
    """A citation may give a heading's first words: "Calls" for "Calls (pages by phone)",
    "First steps" for "First steps: a booking, a check-in, a risk flag". Code marks are
    dropped on both sides, as `section_titles` drops them from the headings."""
    cited = re.escape(re.sub(r"[`*]", "", section).strip().rstrip(".").lower())
    return any(re.match(rf"{cited}(?:$| \(|: | [—-] )", title) for title in titles)


def missing_sections(source: Path) -> list[str]:
    missing = []
    for document, written, section in citations(source.read_text("utf-8"), source):
        where = f"{source.relative_to(ROOT)}: {written}, {section!r}"
        if document is None:
            missing.append(f"{where} (no such document)")
            continue
        if not names_a_section(section, section_titles(document.read_text("utf-8"))):
            missing.append(where)
    return missing


def _sources() -> list[Path]:
    return sorted(
        path
        for folder in SOURCE_FOLDERS
        for path in (ROOT / folder).rglob("*")
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and ".venv" not in path.parts
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_anchor_of_a_link_is_a_heading_of_its_page(page: Path) -> None:
    broken = []
    for target in MARKDOWN_LINK.findall(page.read_text("utf-8")):
        path, _, anchor = target.partition("#")
        if _is_external(target) or not anchor:
            continue
        document = (page.parent / path).resolve() if path else page
        readable = document.suffix == ".md" and document.is_file()
        if readable and anchor not in anchors(document.read_text("utf-8")):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to anchors that do not exist: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_html_image_and_link_names_a_file_that_exists(page: Path) -> None:
    missing = [
        target
        for target in HTML_TARGET.findall(page.read_text("utf-8"))
        if not _is_external(target)
        and not target.startswith("#")
        and not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} shows files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_section_a_page_cites_by_name_exists(page: Path) -> None:
    missing = missing_sections(page)
    assert not missing, "sections cited that the document does not have:\n" + "\n".join(missing)


def test_every_section_a_code_comment_cites_by_name_exists() -> None:
    own = Path(__file__).resolve()
    missing = [line for source in _sources() if source != own for line in missing_sections(source)]
    assert not missing, "sections cited that the document does not have:\n" + "\n".join(missing)


def test_the_checks_see_a_wrong_anchor_section_and_image(tmp_path: Path) -> None:
    assert github_slug("Faults: what you see") == "faults-what-you-see"
    assert github_slug("`counselctl rebuild --service S`") == "counselctl-rebuild---service-s"
    assert anchors("## API keys\n```\n## not a heading\n```\n## API keys\n") == {
        "api-keys",
        "api-keys-1",
    }
    assert section_titles("- **Rotating the key.** Set it\n(`**********`)\n### The bus\n") == [
        "the bus",
        "rotating the key",
    ]
    assert names_a_section("Calls", ["calls (pages by phone, page_calls)"])
    assert not names_a_section("Call", ["calls (pages by phone, page_calls)"])
    page = ROOT / "docs" / "security.md"
    written = 'see README "A provider refusing" and\n`docs/security.md`, "The bus"'
    found = [(d, s) for d, _, s in citations(written, page)]
    assert found == [(ROOT / "README.md", "A provider refusing"), (page, "The bus")]
    code = ROOT / "services" / "notify" / "notify" / "bootstrap.py"
    comment = '# a STOP stops texts, not calls (README,\n    # "Calls")'
    assert citations(comment, code) == [
        (ROOT / "services" / "notify" / "README.md", "README", "Calls")
    ]
    assert not HTML_TARGET.findall('<img alt="x" width="3">')
    assert HTML_TARGET.findall('<img src="docs/img/x.png" width="3">') == ["docs/img/x.png"]
