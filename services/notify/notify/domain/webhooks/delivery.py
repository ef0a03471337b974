"""What follows one attempt of a webhook delivery: a pure decision on the receiver's answer."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from notify.domain.retry import RetryPolicy


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


GONE = 410
"""The receiver says the endpoint is gone for good: the subscription is disabled."""


@dataclass(frozen=True)
class WebhookRetryPolicy:
    """Exponential back-off with jitter (`base`, doubling, at most `max_delay`), for as long as
    the next attempt falls inside `window` (24 h) from the delivery's first attempt.

    Why not from when it was queued: only a subscription's head is attempted, so a delivery
    waits behind a failing head for up to `window`. Counted from queueing, its own window was
    spent before it was ever tried, and it failed at its first failed attempt."""

    base: timedelta
    max_delay: timedelta
    window: timedelta

    def next_attempt(
        self, first_attempt_at: datetime, failed_attempt: int, now: datetime, jitter: float
    ) -> datetime | None:
        """When to try again after failed attempt `failed_attempt`; None: give up."""
        backoff = RetryPolicy(failed_attempt + 1, self.base, max(self.max_delay, self.base))
        at = now + backoff.delay_after(failed_attempt, jitter)
        return at if at <= first_attempt_at + self.window else None


@dataclass(frozen=True)
class AttemptResult:
    """The receiver's answer: a status code, or an error code when none came back."""

    status_code: int | None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class NextStep:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    disable_subscription: bool


def after_attempt(
    result: AttemptResult,
    *,
    first_attempt_at: datetime,
    attempt: int,
    now: datetime,
    policy: WebhookRetryPolicy,
    jitter: float,
) -> NextStep:
    """2xx delivered; 410 fails it and disables the subscription; anything else (another
    status, a timeout, no connection) is retried until the window that opened with the
    delivery's first attempt (`first_attempt_at`) closes."""
    if result.succeeded:
        return NextStep(DeliveryStatus.DELIVERED, None, False)
    if result.status_code == GONE:
        return NextStep(DeliveryStatus.FAILED, None, True)
    retry_at = policy.next_attempt(first_attempt_at, attempt, now, jitter)
    if retry_at is None:
        return NextStep(DeliveryStatus.FAILED, None, False)
    return NextStep(DeliveryStatus.PENDING, retry_at, False)
