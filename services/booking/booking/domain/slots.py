"""Time slots and the rules about them: half-open overlap and the late-cancellation window."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MIN_SESSION_MINUTES = 15
MAX_SESSION_MINUTES = 240
DEFAULT_SESSION_MINUTES = 50


@dataclass(frozen=True, order=True)
class TimeSlot:
    """`[start, end)`: a slot holds its start instant but not its end, so back-to-back
    sessions share no instant. PostgreSQL enforces the same rule with `tstzrange(…, '[)')`."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a time slot needs timezone-aware instants")
        if self.end <= self.start:
            raise ValueError("a time slot ends after it starts")

    @classmethod
    def of(cls, start: datetime, minutes: int) -> "TimeSlot":
        # Absolute minutes: a 50-minute session lasts 50 minutes across a DST change too.
        start = start.astimezone(UTC)
        return cls(start, start + timedelta(minutes=minutes))

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def overlaps(self, other: "TimeSlot") -> bool:
        return self.start < other.end and other.start < self.end


# Sessions are booked in this window of years; anything else is a typo (and far-off instants
# would overflow datetime arithmetic).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


# A session may be booked (or moved) to a start this much in the past: the counselor enters it
# as the client sits down. Anything earlier is a mistake, and would still notify the client.
PAST_GRACE = timedelta(minutes=15)


def add_months(instant: datetime, months: int) -> datetime:
    """The same wall-clock instant `months` calendar months later (the day clamped to the
    month's last: 31 January + 1 month is 28 or 29 February)."""
    index = instant.year * 12 + instant.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    last_day = (following - timedelta(days=1)).day
    return instant.replace(year=year, month=month, day=min(instant.day, last_day))


def start_problem(start: datetime, now: datetime, horizon_months: int) -> str | None:
    """Why `start` cannot be booked at `now`: more than PAST_GRACE ago, or beyond the site's
    horizon."""
    if not EARLIEST <= start < LATEST:
        return f"must be between {EARLIEST.year} and {LATEST.year}"
    if start < now - PAST_GRACE:
        minutes = int(PAST_GRACE.total_seconds() // 60)
        return f"must not be more than {minutes} minutes in the past"
    if start > add_months(now, horizon_months):
        return f"must be within the site's booking horizon of {horizon_months} months"
    return None


def session_length_problem(minutes: int) -> str | None:
    if MIN_SESSION_MINUTES <= minutes <= MAX_SESSION_MINUTES:
        return None
    return f"must be between {MIN_SESSION_MINUTES} and {MAX_SESSION_MINUTES} minutes"


def is_late_cancellation(start: datetime, now: datetime, window: timedelta) -> bool:
    """Late when less than `window` is left before the start (or the start has passed)."""
    return start - now < window
