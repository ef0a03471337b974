"""Dates on the staff progress page, formatted by Babel in the reader's language and the site's
time zone (as crisis's on-call page does): `5 déc. 2026, 09:30`, `Dec 5, 2026, 9:30 AM`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time


def when_formatter(locale: str, zone: ZoneInfo) -> Callable[[datetime], str]:
    """Date (medium) and time of day (short, no seconds) in `zone`, joined as `locale` joins
    them."""
    parsed = Locale.parse(locale)  # once: Babel parses a string locale on every call
    joined = str(parsed.datetime_formats["medium"])

    def when(at: datetime) -> str:
        local = at.astimezone(zone)
        time_of_day = format_time(local, format="short", locale=parsed)
        return joined.format(time_of_day, format_date(local, format="medium", locale=parsed))

    return when


def day_formatter(locale: str, zone: ZoneInfo) -> Callable[[datetime], str]:
    """The date alone (a chart point's label) in `zone`."""
    parsed = Locale.parse(locale)
    return lambda at: format_date(at.astimezone(zone), format="medium", locale=parsed)
