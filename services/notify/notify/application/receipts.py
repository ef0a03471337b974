"""Delivery receipts (`POST /inbound/sms/status`): what became of a message a provider
accepted. Recorded on the notification as they come; a PAGE the carrier did not deliver goes
again at once by the other provider (else after the crisis back-off), within its attempts.
A CLIENT's text the carrier did not deliver goes once by email (`ChannelFellBack`, as after a
provider's refusal), pending again in the bulk lane: not a second text (the client may have
blocked or changed the number), and not when the message is of no use any more."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from counseling_shared import audit, outbox
from counseling_shared.clock import Clock
from counseling_shared.logs import get_logger
from counseling_shared.unit_of_work import unit_of_work
from notify.adapters import notification_store
from notify.application.delivery import SOURCE, announcement, try_other_channels
from notify.domain import notification as rules
from notify.domain.codes import NotificationStatus, ReceiptStatus
from notify.domain.notification import ChannelFellBack, DeliveryReopened, Notification
from notify.domain.retry import RetryPolicy
from notify.metrics import DELIVERY_RECEIPTS, RECEIPT_FALLBACKS, RECEIPT_RESENDS

log = get_logger(__name__)


@dataclass(frozen=True)
class Receipt:
    notification_id: UUID
    status: ReceiptStatus
    error_code: str | None
    provider: str  # `primary` or `fallback`: which callback URL the provider was given


class ReceiptTooEarly(Exception):
    """The message is being sent by a worker at this moment: answer 503, the provider retries."""


@dataclass(frozen=True)
class ReceiptResult:
    notification: Notification
    recorded: bool  # False: a repeat of the last receipt, nothing changed
    resent: bool  # a page gone again, or a client's text pending again by email


async def record_receipt(
    pool: "asyncpg.Pool[Any]",
    clock: Clock,
    receipt: Receipt,
    *,
    has_fallback: frozenset[str],
    retry: RetryPolicy,
    jitter: float,
) -> ReceiptResult | None:
    """Record `receipt`; None when no SMS or messaging notification has that id.
    `has_fallback`: the channels with a second provider configured."""
    now = clock.now()
    # A unit of work: the request's audit entry commits with the receipt (or not at all).
    async with unit_of_work(pool, source=SOURCE, clock=clock) as uow:
        conn = uow.conn
        found = await notification_store.load_for_update(conn, receipt.notification_id)
        if found is None:
            audit.note_answer(404)  # the entry commits with this transaction: say what it answers
            return None
        state, claimed_until = found
        if state.status is NotificationStatus.PENDING and claimed_until and claimed_until > now:
            # A worker is sending it right now (a fast provider's receipt can come before the
            # worker records the provider's answer, and a client's row names its channel only
            # then): recording now would end its claim and lose that answer. The provider
            # sends the receipt again.
            raise ReceiptTooEarly()
        channel = state.text_channel  # after a fallback to email: the text it fell back from
        if channel is None:
            audit.note_answer(404)
            return None
        audit.note_site(state.site_id)
        events = rules.record_receipt(
            state, receipt.status, receipt.error_code, receipt.provider, now
        )
        if not events:
            return ReceiptResult(state, recorded=False, resent=False)
        # The other provider: the fallback after the primary's receipt, the primary after the
        # fallback's; without a fallback, the primary again after the back-off.
        other = receipt.provider == "fallback" or state.channel.value in has_fallback
        fallback = rules.fall_back_after_receipt(state, events, now)
        expired = not fallback and rules.calls_for_fallback(state, events)
        events += fallback or rules.resend_after_receipt(
            state, events, other_provider=other, now=now, policy=retry, jitter=jitter
        )
        new = rules.fold(state, events)
        # Announced only when the receipt gave a page up (NotificationFailed after its Sent);
        # a re-sent page announces itself again when its new attempt ends.
        given_up = new.status is not state.status and new.status is NotificationStatus.FAILED
        rows = outbox.rows_of(announcement(new, now)) if given_up else []
        recorded = await notification_store.record_receipt(conn, state, events, rows)
        resent = any(isinstance(e, DeliveryReopened | ChannelFellBack) for e in events)
        if resent:
            await notification_store.wake(conn, recorded.lane)
        elif given_up and recorded.page_id is not None:
            await try_other_channels(conn, recorded, now)  # as a page failing at send does
    DELIVERY_RECEIPTS.labels(channel.value, receipt.status.value).inc()
    if fallback or expired:
        RECEIPT_FALLBACKS.labels(channel.value, "queued" if fallback else "expired").inc()
    elif resent or given_up:
        RECEIPT_RESENDS.labels("resent" if resent else "given_up").inc()
    log.info(
        "delivery_receipt",
        notification_id=str(state.id),
        status=receipt.status.value,
        error_code=receipt.error_code,
        provider=receipt.provider,
        resent=resent,
        fell_back=bool(fallback),
        notification_status=recorded.status.value,
    )
    return ReceiptResult(recorded, recorded=True, resent=resent)
