"""A time zone as a page names it for its reader: the zone's city in the reader's language
("Paris", "파리", "Париж") rather than its IANA id ("Europe/Paris"), which means little to a
client and reads as English. Babel's exemplar city (CLDR pattern `VVV`); a zone without one
keeps a fixed name ("UTC", "GMT+5")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime


def zone_city(zone: ZoneInfo, locale: str, at: datetime) -> str:
    """`zone`'s city in `locale` (a Babel locale: "fr", "ko_KR"). `at` is any aware instant:
    Babel formats a date, and the city does not depend on which."""
    return format_datetime(at, format="VVV", tzinfo=zone, locale=locale)
