"""When a freed slot may be offered to the waitlist: only in the hours a client can act on the
offer (`WAITLIST_OFFER_HOURS`, wall-clock times in the site's zone).

An offer holds its slot for `WAITLIST_OFFER_TTL` through a link notify delivers outside the
client's quiet hours: made at 22:00, it would reach the client at 08:00, long expired, and the
hold timer would have offered the slot to every waiting client by morning. A slot freed outside
the window waits for the window's next opening instead.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
ALWAYS = "always"


@dataclass(frozen=True)
class OfferWindow:
    """`[opens, closes)` local time every day; `None` bounds: offers at any hour."""

    opens: time | None = None
    closes: time | None = None

    @classmethod
    def parse(cls, text: str) -> "OfferWindow":
        """`HH:MM-HH:MM` (opening before closing, same day) or `always`."""
        if text.strip().lower() == ALWAYS:
            return cls()
        found = _HOURS.match(text.strip())
        if found is None:
            raise ValueError("expected HH:MM-HH:MM (such as 08:00-20:00) or 'always'")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        opens, closes = time(h1, m1), time(h2, m2)
        if closes <= opens:
            raise ValueError("the window must open before it closes on the same day")
        return cls(opens, closes)

    def is_open(self, now: datetime, zone: ZoneInfo) -> bool:
        if self.opens is None or self.closes is None:
            return True
        local = now.astimezone(zone).time()
        return self.opens <= local < self.closes

    def next_opening(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The first opening after `now` (UTC), on the wall clock: 08:00 local on either side
        of a DST change. An opening inside a DST gap (02:30 on a spring-forward night) comes
        as late as the gap is long."""
        if self.opens is None:
            return now
        local = now.astimezone(zone)
        day = local.date() if local.time() < self.opens else local.date() + timedelta(days=1)
        return datetime.combine(day, self.opens, zone).astimezone(UTC)


def offer_at(
    window: OfferWindow, zone: ZoneInfo, now: datetime, start: datetime, ttl: timedelta
) -> datetime | None:
    """When a slot starting at `start`, freed at `now`, may be offered: `now` inside the window
    (as before: any slot not yet started); else the window's next opening, if the slot starts
    at least a whole offer's `ttl` after it; else never (None)."""
    if start <= now:
        return None
    if window.is_open(now, zone):
        return now
    opening = window.next_opening(now, zone)
    return opening if worth_a_late_offer(start, opening, ttl) else None


def worth_a_late_offer(start: datetime, at: datetime, ttl: timedelta) -> bool:
    """Whether a slot kept for the window's opening is still worth offering `at` then: the
    client gets the offer's whole `ttl` before the slot starts (a timer firing late, after a
    restart, may find less)."""
    return start - at >= ttl
