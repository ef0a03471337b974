"""notify's answers when crisis did not answer a staff text: one per command that needs one,
in every language notify writes, each naming that language's reply word."""

import pytest

from counseling_shared.staff_replies import REPLY_WORDS, StaffCommand
from notify.domain.locales import WRITTEN_LANGUAGES
from notify.domain.staff_unavailable import TEXTS, unavailable_text

NEEDING_AN_ANSWER = {
    StaffCommand.ACK,
    StaffCommand.ESCALATE,
    StaffCommand.RESOLVE,
    StaffCommand.STOP,
    StaffCommand.START,
}


def test_every_written_language_answers_every_command_that_needs_it() -> None:
    assert set(TEXTS) == set(WRITTEN_LANGUAGES)
    for texts in TEXTS.values():
        assert set(texts) == NEEDING_AN_ANSWER


@pytest.mark.parametrize("language", WRITTEN_LANGUAGES)
def test_each_language_names_its_own_ack_and_res_words(language: str) -> None:
    words = REPLY_WORDS[language]
    assert words[StaffCommand.ACK][0] in TEXTS[language][StaffCommand.ACK]
    assert words[StaffCommand.RESOLVE][0] in TEXTS[language][StaffCommand.RESOLVE]


@pytest.mark.parametrize(
    ("locale", "language"),
    [("fr-CA", "fr"), ("ko_KR", "ko"), ("ru", "ru"), ("de", "en"), (None, "en")],
)
def test_the_locale_picks_the_language(locale: str | None, language: str) -> None:
    assert unavailable_text(StaffCommand.ACK, locale) == TEXTS[language][StaffCommand.ACK]


def test_help_and_other_texts_keep_notifys_own_answer() -> None:
    assert unavailable_text(StaffCommand.HELP, "fr") is None
    assert unavailable_text(StaffCommand.OTHER, None) is None
