"""Which language a message is written in."""

import pytest

from notify.domain.locales import MessageLocale, message_locale


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("fr", MessageLocale("fr", "fr")),
        ("fr-CA", MessageLocale("fr", "fr_CA")),
        ("fr_ca", MessageLocale("fr", "fr_CA")),
        ("ko-KR", MessageLocale("ko", "ko_KR")),
        ("ru", MessageLocale("ru", "ru")),
        ("en-GB", MessageLocale("en", "en_GB")),
        ("zh-Hant-TW", MessageLocale("en", "en")),
        ("de-DE", MessageLocale("en", "en")),
        ("", MessageLocale("en", "en")),
        (None, MessageLocale("en", "en")),
    ],
)
def test_a_region_keeps_its_language_and_other_languages_fall_back_to_english(
    recipient: str | None, expected: MessageLocale
) -> None:
    assert message_locale(recipient) == expected
