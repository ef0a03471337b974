"""The zone a page names: its city in the reader's language, never the IANA id."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.zone_names import zone_city

AT = datetime(2026, 12, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "locale", "city"),
    [
        ("Europe/Paris", "en", "Paris"),
        ("Europe/Paris", "fr", "Paris"),
        ("Europe/Paris", "ko", "파리"),
        ("Europe/Paris", "ru", "Париж"),
        ("Asia/Seoul", "fr", "Séoul"),
        ("Asia/Seoul", "ko", "서울"),
        ("America/New_York", "ru", "Нью-Йорк"),
        ("UTC", "ko", "UTC"),
        ("Etc/UTC", "ru", "UTC"),
    ],
)
def test_a_zone_is_named_by_its_city_in_the_readers_language(
    zone: str, locale: str, city: str
) -> None:
    assert zone_city(ZoneInfo(zone), locale, AT) == city


def test_the_city_does_not_change_with_the_season() -> None:
    summer = datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert zone_city(ZoneInfo("Europe/Paris"), "ru", summer) == "Париж"
