"""Local wall-clock times to instants, by the contract's DST rules.

A wall-clock time that does not exist (spring forward) resolves to the first instant after the
gap; one that occurs twice (fall back) resolves to its first occurrence.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_SECOND = timedelta(seconds=1)


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local `wall` time happens in `zone`."""
    first = wall.replace(tzinfo=zone, fold=0)
    if _local(first.astimezone(UTC), zone) == wall:
        return first.astimezone(UTC)  # exists; fold=0 is the first of two occurrences
    # In a gap: fold=0 reads the wall with the offset before the gap (an instant after it),
    # fold=1 with the offset after it (an instant before it). The gap's end lies between.
    early = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    late = first.astimezone(UTC)
    if early > late:
        early, late = late, early
    after = _offset(late, zone)
    while late - early > _SECOND:
        middle = early + (late - early) / 2
        middle = middle.replace(microsecond=0)
        if _offset(middle, zone) == after:
            late = middle
        else:
            early = middle
    return late


def local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of `instant` in `zone`."""
    return _local(instant, zone)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()
