"""Checks for the plain values booking accepts: time zones, locales, durations, addresses."""

import re
import zoneinfo
from datetime import timedelta

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,22}$")
# Weeks, days and clock time only: months and years have no fixed length.
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def is_known_timezone(name: str) -> bool:
    """An IANA zone name this machine's tz database knows (`Europe/Paris`, `UTC`)."""
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def is_locale(tag: str) -> bool:
    """A BCP 47 language tag in its common shapes (`ko`, `fr-CA`, `zh-Hant-TW`)."""
    return bool(_LOCALE.match(tag))


def is_email(address: str) -> bool:
    return len(address) <= 254 and bool(_EMAIL.match(address))


def is_phone(number: str) -> bool:
    """Digits with optional `+`, spaces, dots, dashes and parentheses; 6 digits at least."""
    return bool(_PHONE.match(number)) and sum(c.isdigit() for c in number) >= 6


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds (`PT24H`, `P2D`).

    Raises ValueError for anything else, including months and years.
    """
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError("expected an ISO 8601 duration such as PT24H or P2D")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError("the duration is too long") from None
