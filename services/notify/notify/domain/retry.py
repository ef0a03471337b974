"""Retrying transient delivery failures: exponential back-off with jitter, bounded attempts."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """After failed attempt `n`, wait about `base * 2**(n-1)` (at most `max_delay`) before
    attempt `n + 1`; give up after `max_attempts` attempts.

    The wait is "equal jitter": half of it fixed, half random, so a burst of failures (a
    provider outage) does not come back as a synchronised burst of retries.
    """

    max_attempts: int
    base: timedelta
    max_delay: timedelta

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base <= timedelta(0) or self.max_delay < self.base:
            raise ValueError("need 0 < base <= max_delay")

    def ceiling(self, failed_attempt: int) -> timedelta:
        """The un-jittered wait after failed attempt number `failed_attempt` (1-based)."""
        # In float seconds: base * 2**n overflows timedelta long before it stops growing.
        grown = self.base.total_seconds() * 2.0 ** min(failed_attempt - 1, 64)
        return min(timedelta(seconds=grown), self.max_delay) if grown < 1e12 else self.max_delay

    def delay_after(self, failed_attempt: int, jitter: float) -> timedelta:
        """The wait after failed attempt `failed_attempt`; `jitter` is uniform in [0, 1)."""
        ceiling = self.ceiling(failed_attempt)
        return ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)

    def gives_up_after(self, failed_attempt: int) -> bool:
        return failed_attempt >= self.max_attempts
