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


class DisabledReason(StrEnum):
    RECEIVER_GONE = "receiver_gone"
    """It answered 410: what was still queued for it is given up."""
    RECEIVER_FAILING = "receiver_failing"
    """Every attempt failed for `disable_after`: what was queued waits, untried, until the
    subscription is re-enabled (never failed without an attempt)."""


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
    disable_after: timedelta | None = None
    """A receiver failing every attempt (of any delivery) for this long is disabled; None:
    never. Order makes each delivery wait for the one before, so a receiver that never
    recovers would otherwise hold a queue that grows by a day's events and drains by one."""

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
    disable: DisabledReason | None = None

    @property
    def disable_subscription(self) -> bool:
        return self.disable is not None


def after_attempt(
    result: AttemptResult,
    *,
    first_attempt_at: datetime,
    attempt: int,
    now: datetime,
    policy: WebhookRetryPolicy,
    jitter: float,
    failing_since: datetime | None = None,
) -> NextStep:
    """2xx delivered; 410 fails it and disables the subscription; anything else (another
    status, a timeout, no connection) is retried until the window that opened with the
    delivery's first attempt (`first_attempt_at`) closes. `failing_since`: the subscription's
    first failed attempt since its last success (None: this one is the first); failing for
    `policy.disable_after` disables the subscription, its queue kept."""
    if result.succeeded:
        return NextStep(DeliveryStatus.DELIVERED, None)
    if result.status_code == GONE:
        return NextStep(DeliveryStatus.FAILED, None, DisabledReason.RECEIVER_GONE)
    retry_at = policy.next_attempt(first_attempt_at, attempt, now, jitter)
    status = DeliveryStatus.PENDING if retry_at is not None else DeliveryStatus.FAILED
    failing_for = now - (failing_since or now)
    if policy.disable_after is not None and failing_for >= policy.disable_after:
        return NextStep(status, retry_at, DisabledReason.RECEIVER_FAILING)
    return NextStep(status, retry_at)
