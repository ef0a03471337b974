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


def start_problem(start: datetime) -> str | None:
    if EARLIEST <= start < LATEST:
        return None
    return f"must be between {EARLIEST.year} and {LATEST.year}"


def session_length_problem(minutes: int) -> str | None:
    if MIN_SESSION_MINUTES <= minutes <= MAX_SESSION_MINUTES:
        return None
    return f"must be between {MIN_SESSION_MINUTES} and {MAX_SESSION_MINUTES} minutes"


def is_late_cancellation(start: datetime, now: datetime, window: timedelta) -> bool:
    """Late when less than `window` is left before the start (or the start has passed)."""
    return start - now < window
