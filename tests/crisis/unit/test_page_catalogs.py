"""The on-call page's catalogs (ko, fr, ru) translate the same messages, keep their
placeholders, and a staff member's locale picks one."""

import re

import pytest

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
