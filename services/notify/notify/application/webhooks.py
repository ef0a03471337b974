"""Signed webhooks: queue a delivery per matching subscription when an event arrives, and
attempt a subscription's oldest pending delivery when it falls due."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from counseling_shared.clock import Clock
from counseling_shared.envelope import Envelope
from counseling_shared.events import IntegrationEvent
from counseling_shared.logs import get_logger
from counseling_shared.unit_of_work import UnitOfWork
from notify import metrics
from notify.adapters import webhook_store
from notify.adapters.webhook_sender import WebhookSender
from notify.domain.webhooks.delivery import (
    AttemptResult,
    DeliveryStatus,
    DisabledReason,
    NextStep,
    WebhookRetryPolicy,
    after_attempt,
)
from notify.domain.webhooks.payload import webhook_body
from notify.domain.webhooks.signing import signed_headers, signing_secrets

log = get_logger(__name__)


async def on_event(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    """Queue the event for every active subscription of its site that chose its type, in the
    transaction that records it as consumed (so it is queued once, and never lost)."""
    await webhook_store.enqueue(
        uow.conn,
        site_id=envelope.siteid,
        event_id=envelope.id,
        event_type=envelope.type,
        body=webhook_body(envelope.model_dump(mode="json", exclude_none=True)),
        now=uow.clock.now(),
    )


async def on_events(uow: UnitOfWork, messages: Sequence[tuple[Envelope, IntegrationEvent]]) -> None:
    """`on_event`'s batch handler: the batch's events queued in one statement."""
    queued = [queued_event(envelope) for envelope, _ in messages]
    await webhook_store.enqueue_many(uow.conn, queued, uow.clock.now())


def queued_event(envelope: Envelope) -> webhook_store.QueuedEvent:
    return webhook_store.QueuedEvent(
        site_id=envelope.siteid,
        event_id=envelope.id,
        event_type=envelope.type,
        body=webhook_body(envelope.model_dump(mode="json", exclude_none=True)),
    )


INTERNAL_ERROR = "internal_error"
"""The attempt's error when notify itself failed to make it (see `WebhookCourier.attempt`)."""


class WebhookCourier:
    """Makes one attempt of a claimed delivery and records what follows."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool[Any],
        clock: Clock,
        sender: WebhookSender,
        policy: WebhookRetryPolicy,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._sender = sender
        self._policy = policy
        self._jitter = jitter

    async def _sign_and_post(
        self, claimed: webhook_store.ClaimedDelivery, at: datetime
    ) -> AttemptResult:
        current, *previous = signing_secrets(
            claimed.secret, claimed.previous_secret, claimed.previous_secret_expires_at, at
        )
        headers = signed_headers(
            current, str(claimed.id), at, claimed.body.encode(), also_with=previous
        )
        return await self._sender.post(claimed.url, claimed.body, headers)

    async def attempt(self, claimed: webhook_store.ClaimedDelivery) -> None:
        at = self._clock.now()
        started = time.perf_counter()
        try:
            result = await self._sign_and_post(claimed, at)
        except Exception as exc:
            # A bug, or a delivery we cannot sign or send: recorded as a failed attempt, so
            # its retries, its window and the receiver's health rules apply. Left unrecorded,
            # its lease would run out and the same crash come back forever, holding every
            # later delivery of the subscription behind it.
            log.exception(
                "webhook_attempt_crashed", delivery_id=str(claimed.id), error=type(exc).__name__
            )
            result = AttemptResult(None, INTERNAL_ERROR)
        duration_ms = int((time.perf_counter() - started) * 1000)
        now = self._clock.now()
        step = after_attempt(
            result,
            # The window opens at the first attempt (this one, if none is on record yet).
            first_attempt_at=claimed.first_attempt_at or at,
            attempt=claimed.attempts + 1,
            now=now,
            policy=self._policy,
            jitter=self._jitter(),
            failing_since=claimed.failing_since,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await webhook_store.record_attempt(
                conn,
                claimed,
                at=at,
                status_code=result.status_code,
                error=result.error,
                duration_ms=duration_ms,
                step=step,
                now=now,
            )
        metrics.WEBHOOK_ATTEMPTS.labels(outcome_of(step)).inc()
        if step.disable is not None:
            log.warning(
                "webhook_subscription_disabled",
                subscription_id=str(claimed.subscription_id),
                reason=step.disable.value,
            )
        log.info(
            "webhook_attempted",
            delivery_id=str(claimed.id),
            subscription_id=str(claimed.subscription_id),
            attempt=claimed.attempts + 1,
            status_code=result.status_code,
            error=result.error,
            outcome=step.status.value,
            subscription_disabled=step.disable.value if step.disable else None,
        )


def outcome_of(step: NextStep) -> str:
    """The `outcome` label of `notify_webhook_attempts_total` for what follows an attempt."""
    if step.disable is DisabledReason.RECEIVER_GONE:
        return "receiver_gone"
    return {
        DeliveryStatus.DELIVERED: "delivered",
        DeliveryStatus.PENDING: "retried",
        DeliveryStatus.FAILED: "failed",
    }[step.status]
