"""The client pages' words (the waitlist offer page, `[offer]`; the appointment's manage
page, `[manage]`) in the four locales they speak, one file each under `locales/`."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from counseling_shared.zone_names import zone_city

LOCALES = ("en", "ko", "fr", "ru")
_DIR = Path(__file__).parent / "locales"


def _load(locale: str, page: str = "offer") -> dict[str, str]:
    with (_DIR / f"{locale}.toml").open("rb") as file:
        texts: dict[str, str] = tomllib.load(file)[page]
    return texts


TEXTS: dict[str, dict[str, str]] = {locale: _load(locale) for locale in LOCALES}
MANAGE_TEXTS: dict[str, dict[str, str]] = {locale: _load(locale, "manage") for locale in LOCALES}


def locale_of(locale: str | None) -> str:
    """The page's language for a BCP 47 tag (`fr-CA` is `fr`); English otherwise."""
    base = (locale or "en").replace("_", "-").split("-")[0].lower()
    return base if base in TEXTS else "en"


def when_label(at: datetime, zone: ZoneInfo, locale: str) -> str:
    """A time as the pages show it: the full date, the time of day and the zone's city in the
    reader's language ("samedi 5 décembre 2026, 10:00 (Paris)"). The city, not the IANA id
    ("Europe/Paris"), which reads as English and as jargon to a client."""
    local = at.astimezone(zone)
    day = format_date(local.date(), format="full", locale=locale)
    time = format_time(local, format="short", tzinfo=zone, locale=locale)
    return f"{day}, {time} ({zone_city(zone, locale, at)})"
