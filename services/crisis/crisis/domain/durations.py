"""ISO 8601 durations for escalation deadlines.

Only fixed-length units (weeks, days, hours, minutes, seconds): a month or a year has no fixed
length, and an acknowledgement deadline must mean the same thing on every day of the year.
"""

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W"
    r"|(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?)$"
)


class InvalidDuration(ValueError):
    """The text is not an ISO 8601 duration in weeks, days, hours, minutes and seconds."""


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip().upper())
    parts = {k: float(v) for k, v in (match.groupdict() if match else {}).items() if v}
    if not parts:  # no match, or a bare "P"
        raise InvalidDuration(
            f"{text!r} is not an ISO 8601 duration such as PT30S, PT5M, PT1H or P1D"
        )
    try:
        return timedelta(**parts)
    except OverflowError:  # past timedelta's range (a 500 once): no deadline is that far
        raise InvalidDuration(f"{text[:40]!r} is too long") from None


def format_duration(duration: timedelta) -> str:
    """The shortest ISO 8601 form, e.g. `PT90S` → `PT1M30S`."""
    micros = duration // timedelta(microseconds=1)
    if micros < 0:
        raise InvalidDuration("a duration cannot be negative")
    days, micros = divmod(micros, 86_400_000_000)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0") + "S"
    elif seconds:
        clock += f"{seconds}S"
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"
