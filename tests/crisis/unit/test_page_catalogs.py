"""The on-call page's catalogs (ko, fr, ru) translate the same messages, keep their
placeholders, and a staff member's locale picks one."""

import ast
import re
from pathlib import Path

import pytest

from crisis.application import sms_replies
from crisis.entrypoints import page_view
from crisis.entrypoints.page_i18n import _catalog, language_of, translator

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_catalog_translates_the_same_messages_with_the_same_placeholders() -> None:
    catalogs = {lang: _catalog(lang) for lang in ("ko", "fr", "ru")}
    assert len({frozenset(c) for c in catalogs.values()}) == 1
    for lang, catalog in catalogs.items():
        for msgid, text in catalog.items():
            assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), (
                lang,
                msgid,
            )


@pytest.mark.parametrize(
    ("locale", "language"),
    [("ko-KR", "ko"), ("fr_CA", "fr"), ("ru", "ru"), ("en-GB", "en"), ("de", "en"), (None, "en")],
)
def test_a_staff_members_locale_picks_the_language(locale: str | None, language: str) -> None:
    assert language_of(locale) == language


def test_a_message_is_translated_and_filled() -> None:
    assert translator("fr")("Acknowledge") == "Prendre en charge"
    assert translator("ru")("Escalated to level %(level)s", level=2) == "Эскалация на уровень 2"
    assert translator("en")("Acknowledge") == "Acknowledge"


def _msgids_in_code() -> set[str]:
    """Every literal `_("…")` of the page's code and templates, and the coded values' words."""
    root = Path(page_view.__file__).resolve().parent.parent
    found: set[str] = set()
    for source in [*(root / "entrypoints").glob("*.py"), root / "adapters" / "ical.py"]:
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    for template in (root / "templates").glob("*.html"):
        found |= set(re.findall(r'_\("([^"]+)"', template.read_text()))
    words = (
        page_view.OUTCOME_TEXT,
        page_view.STATUS_TEXT,
        page_view.CHANNEL_TEXT,
        page_view.CALL_OUTCOME_TEXT,
        page_view.CLOSURE_KIND_TEXT,
    )
    return found | {text for mapping in words for text in mapping.values()}


@pytest.mark.parametrize("language", ["ko", "fr", "ru"])
def test_every_message_the_page_shows_is_translated(language: str) -> None:
    used = _msgids_in_code()
    assert "Updated at %(time)s" in used  # the scan sees the template
    assert "On call: %(who)s" in used  # and the calendar feed
    assert used - set(_catalog(language)) == set()


@pytest.mark.parametrize("language", ["ko", "fr", "ru"])
def test_every_sms_answer_is_translated(language: str) -> None:
    """The answers to staff texts (`sms_replies`' messages) are in each catalog too."""
    answers = {v for k, v in vars(sms_replies).items() if k.isupper() and isinstance(v, str)}
    assert "Alert %(alert)s resolved: %(outcome)s." in answers
    assert answers - set(_catalog(language)) == set()
