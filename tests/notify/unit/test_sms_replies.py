"""Which texts are STOP, START or HELP, and in which language notify answers."""

import pytest

from counseling_shared.phones import normalise_phone
from counseling_shared.sms_keywords import Keyword, parse
from notify.domain.phones import opt_out_digest
from notify.domain.sms_replies import reply_to


@pytest.mark.parametrize(
    ("text", "keyword", "language"),
    [
        ("STOP", Keyword.STOP, "en"),
        ("  stop\n", Keyword.STOP, "en"),
        ("Stop!", Keyword.STOP, "en"),
        ("StopAll", Keyword.STOP, "en"),
        ("unsubscribe", Keyword.STOP, "en"),
        ("Cancel", Keyword.STOP, "en"),
        ("END", Keyword.STOP, "en"),
        ("quit", Keyword.STOP, "en"),
        ("Arrêt", Keyword.STOP, "fr"),
        ("ARRET", Keyword.STOP, "fr"),
        ("Стоп", Keyword.STOP, "ru"),
        ("수신거부", Keyword.STOP, "ko"),
        ("START", Keyword.START, "en"),
        ("unstop", Keyword.START, "en"),
        ("Yes", Keyword.START, "en"),
        ("Старт", Keyword.START, "ru"),
        ("HELP", Keyword.HELP, "en"),
        ("info", Keyword.HELP, "en"),
        ("AIDE", Keyword.HELP, "fr"),
        ("도움말", Keyword.HELP, "ko"),
    ],
)
def test_keywords_whatever_their_case_and_spacing(
    text: str, keyword: Keyword, language: str
) -> None:
    assert parse(text) == (parse(text).__class__(keyword, language))


@pytest.mark.parametrize(
    "text",
    ["please stop", "stop it", "oui", "да", "네", "no", "", "STOP STOP", "I can't come, sorry"],
)
def test_a_sentence_or_an_ordinary_answer_is_no_keyword(text: str) -> None:
    assert parse(text).keyword is None


def test_every_language_answers_every_keyword() -> None:
    for language in ("en", "fr", "ko", "ru", "de"):
        for keyword in (*Keyword, None):
            assert reply_to(keyword, language)
    assert reply_to(Keyword.HELP, "ru", "Center: 01 23") == "Center: 01 23"
    assert reply_to(Keyword.STOP, "ru", "Center: 01 23") != "Center: 01 23"


@pytest.mark.parametrize("written", ["+33 6 12-34-56-78", "0033612345678", "+33 (6) 12 34 56 78"])
def test_one_number_written_many_ways_has_one_digest(written: str) -> None:
    assert normalise_phone(written) == "+33612345678"
    assert opt_out_digest("k", written) == opt_out_digest("k", "+33612345678")
    assert opt_out_digest("k", written) != opt_out_digest("other-key", written)
