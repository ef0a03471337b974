"""A site's closed local dates (booking's closures: public holidays, training days, closures).

Kept as spans, so a ten-year closure is one entry; looked up by bisection. The dates are the
site's local dates: `zone` is the site's zone when known (a schedule in another zone judges its
windows' days there), else None and the schedule's own zone stands in.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ClosedDays:
    """Spans `(first, last)` of closed dates, both included, sorted and disjoint."""

    spans: tuple[tuple[date, date], ...] = ()
    zone: ZoneInfo | None = None

    @classmethod
    def of(cls, spans: Iterable[tuple[date, date]], zone: ZoneInfo | None = None) -> "ClosedDays":
        """From spans in any order, overlapping or not (a span `last` before `first`: none)."""
        merged: list[tuple[date, date]] = []
        for first, last in sorted(s for s in spans if s[0] <= s[1]):
            if merged and first <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        return cls(tuple(merged), zone)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        at = bisect_right(self.spans, (day, date.max)) - 1
        return at >= 0 and self.spans[at][0] <= day <= self.spans[at][1]

    def __bool__(self) -> bool:
        return bool(self.spans)


NO_CLOSED_DAYS = ClosedDays()
