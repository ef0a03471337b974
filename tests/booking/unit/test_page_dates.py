# ruff: noqa: RUF001, RUF003  (Russian dates: the Cyrillic letters are meant)
"""The time on booking's client pages (manage, late cancel, offer): date, time and the zone's
city in the reader's language, not the IANA id (the pages showed "Europe/Paris" before)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from booking.entrypoints.web.texts import LOCALES, when_label

AT = datetime(2026, 12, 5, 9, tzinfo=UTC)
# Babel (CLDR) puts a narrow no-break space before "AM" and "г."


@pytest.mark.parametrize(
    ("locale", "zone", "shown"),
    [
        ("en", "Europe/Paris", "Saturday, December 5, 2026, 10:00\u202fAM (Paris)"),
        ("fr", "Europe/Paris", "samedi 5 décembre 2026, 10:00 (Paris)"),
        ("ko", "Europe/Paris", "2026년 12월 5일 토요일, AM 10:00 (파리)"),
        ("ru", "Europe/Paris", "суббота, 5 декабря 2026\u202fг., 10:00 (Париж)"),
        ("fr", "Asia/Seoul", "samedi 5 décembre 2026, 18:00 (Séoul)"),
        ("ru", "America/New_York", "суббота, 5 декабря 2026\u202fг., 04:00 (Нью-Йорк)"),
    ],
)
def test_the_time_names_the_zone_by_its_city_in_the_readers_language(
    locale: str, zone: str, shown: str
) -> None:
    assert when_label(AT, ZoneInfo(zone), locale) == shown


@pytest.mark.parametrize("locale", LOCALES)
def test_no_page_language_shows_the_iana_id(locale: str) -> None:
    for zone in ("Europe/Paris", "Asia/Seoul", "America/New_York"):
        assert zone not in when_label(AT, ZoneInfo(zone), locale)
