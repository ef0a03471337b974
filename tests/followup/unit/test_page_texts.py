"""The pages' words: every locale names every code the progress page shows, and a locale file
missing one is refused when the service starts, not shown as a blank cell."""

from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, MeasureBand
from followup.domain.followup import Status
from followup.entrypoints.web import recent_links
from followup.entrypoints.web.texts import (
    LOCALES,
    PROGRESS_TEXTS,
    TEXTS,
    _form,
    _progress,
    browser_locale,
)


@pytest.mark.parametrize("locale", LOCALES)
def test_each_locale_names_every_band_kind_status_and_outcome(locale: str) -> None:
    t = PROGRESS_TEXTS[locale]
    assert {b.value for b in MeasureBand} <= t["bands"].keys()
    assert {k.value for k in FollowUpKind} <= t["kinds"].keys()
    assert {s.value for s in Status} <= t["statuses"].keys()
    assert {o.value for o in FollowUpOutcome} <= t["outcomes"].keys()
    assert PROGRESS_TEXTS["en"].keys() <= t.keys()


def test_a_locale_missing_a_word_or_a_code_is_refused() -> None:
    english = PROGRESS_TEXTS["en"]
    lacking: dict[str, Any] = {
        **english,
        "bands": {k: v for k, v in english["bands"].items() if k != "severe"},
    }
    del lacking["heading"]

    with pytest.raises(ValueError, match=r"lacks heading, bands\.severe"):
        _progress("xx", lacking, english)


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        ("de-DE,fr;q=0.5", "fr"),
        ("ru", "ru"),
        ("de", "en"),
        ("", "en"),
    ],
    ids=["korean", "second-choice", "bare", "unspoken", "absent"],
)
def test_the_browsers_first_language_the_pages_speak_is_chosen(header: str, locale: str) -> None:
    assert browser_locale(header) == locale


def test_a_locale_missing_a_form_word_is_refused() -> None:
    english = TEXTS["en"]
    lacking = {k: v for k, v in english.items() if k != "outage"}

    with pytest.raises(ValueError, match=r"\[form\] lacks outage"):
        _form("xx", lacking, english)


def test_the_recent_links_are_bounded_oldest_forgotten_first() -> None:
    recent_links.forget_all()
    first, *rest = [uuid4() for _ in range(recent_links.CAPACITY + 1)]
    recent_links.remember(first, "fr", "3114")
    assert recent_links.recall(first) == recent_links.RecentLink("fr", "3114")
    for followup_id in rest:
        recent_links.remember(followup_id, "ko", None)
    assert recent_links.recall(first) is None
    assert recent_links.recall(rest[0]) == recent_links.RecentLink("ko", None)
    recent_links.forget_all()
