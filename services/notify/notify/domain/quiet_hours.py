"""Quiet hours: a daily window, in the recipient's own time zone, when only pages may go out."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class QuietHours:
    """From `start` to `end` local wall time, every day. `end` before `start` wraps midnight
    (21:00-08:00); `start == end` is an empty window."""

    start: time
    end: time

    @property
    def wraps_midnight(self) -> bool:
        return self.end < self.start

    def covers(self, wall_time: time) -> bool:
        if self.start == self.end:
            return False
        if self.wraps_midnight:
            return wall_time >= self.start or wall_time < self.end
        return self.start <= wall_time < self.end

    def release_at(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When a message held at `now` may go: the end of the current window (UTC), or None
        when `now` is outside quiet hours."""
        local = now.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if not self.covers(wall):
            return None
        end_day = local.date()
        if self.wraps_midnight and wall >= self.start:
            end_day += timedelta(days=1)
        return _first_instant_at(end_day, self.end, zone, after=now)


def _first_instant_at(day: date, wall: time, zone: tzinfo, after: datetime) -> datetime:
    """The instant the wall clock shows `wall` on `day`, later than `after`.

    On a DST gap day the wall time does not exist; `fold=0` maps it to the instant just past
    the gap. On a fall-back day it exists twice; the later reading is used when the earlier
    one has already passed.
    """
    for fold in (0, 1):
        candidate = datetime.combine(day, wall, tzinfo=zone).replace(fold=fold).astimezone(UTC_ZONE)
        if candidate > after:
            return candidate
    return after


def zone_named(name: str | None) -> ZoneInfo:
    """The IANA zone `name`, or UTC when it is missing or unknown."""
    if not name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE
