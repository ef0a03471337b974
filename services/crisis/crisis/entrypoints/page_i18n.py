"""The on-call page's language: gettext catalogs (`locales/<lang>/LC_MESSAGES/oncall_page.po`)
read with Babel at start-up, and dates formatted by Babel in the site's time zone.

English is the source language (the msgids). A staff member's `locale` (from booking's
StaffRegistered, e.g. `ko-KR`) picks the catalog by its language; anything else gets English.
"""

from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime, format_time
from babel.messages.pofile import read_po

from counseling_shared.zone_names import zone_city

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("en", "ko", "fr", "ru")
DOMAIN = "oncall_page"

Translate = Callable[..., str]


def language_of(locale: str | None) -> str:
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else "en"


@cache
def _catalog(language: str) -> dict[str, str]:
    if language == "en":
        return {}
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def translator(language: str) -> Translate:
    """`_(msgid, **values)`: the translation (English when missing), `%(name)s`-filled."""
    catalog = _catalog(language)

    def translate(msgid: str, **values: Any) -> str:
        text = catalog.get(msgid, msgid)
        return text % values if values else text

    return translate


def _zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when_formatter(language: str, timezone: str | None) -> Callable[[datetime | None], str]:
    """Date and time in the site's zone, followed by the zone's city."""
    zone = _zone(timezone)

    def when(at: datetime | None) -> str:
        if at is None:
            return ""
        shown = format_datetime(at, format="medium", tzinfo=zone, locale=language)
        return f"{shown} ({zone_city(zone, language, at)})"

    return when


def time_formatter(language: str, timezone: str | None) -> Callable[[datetime], str]:
    """The time of day only (HH:MM in the reader's convention) in the site's zone, and the
    zone's city: when the page was last updated."""
    zone = _zone(timezone)

    def time_of(at: datetime) -> str:
        shown = format_time(at, format="short", tzinfo=zone, locale=language)
        return f"{shown} ({zone_city(zone, language, at)})"

    return time_of


def day_formatter(language: str) -> Callable[[date], str]:
    """A local date (a closed day of the site), in the reader's convention."""

    def day_of(day: date) -> str:
        return format_date(day, format="medium", locale=language)

    return day_of
