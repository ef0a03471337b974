"""The Notification aggregate: one message to one recipient on one channel, until it is sent or
given up. Its events are notify's own (stored in the event store); the public
NotificationSent / NotificationFailed are published alongside by the application.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID

from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.fast_replace import replace
from notify.domain.codes import (
    AttemptOutcome,
    HoldReason,
    Lane,
    NotificationStatus,
    ReceiptStatus,
    RecipientKind,
    Template,
)
from notify.domain.quiet_hours import QuietHours
from notify.domain.retry import RetryPolicy

Params = Mapping[str, Any]
"""Template parameters: identifiers, coded values and instants only, never client data."""


class NotPending(Exception):
    """The notification was already sent or given up."""


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt with a provider came to. `error_code` is a short machine code."""

    kind: AttemptOutcome
    error_code: str | None = None

    @classmethod
    def sent(cls) -> "DeliveryOutcome":
        return cls(AttemptOutcome.SENT)

    @classmethod
    def transient(cls, code: str) -> "DeliveryOutcome":
        return cls(AttemptOutcome.TRANSIENT_FAILURE, code)

    @classmethod
    def permanent(cls, code: str) -> "DeliveryOutcome":
        return cls(AttemptOutcome.PERMANENT_FAILURE, code)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationRequested:
    """An incoming event asked for a message; it waits in its lane from `next_attempt_at`."""

    notification_id: UUID
    recipient_id: UUID
    recipient_kind: RecipientKind
    site_id: UUID
    lane: Lane
    channel: NotificationChannel
    requested_channel: Channel | None
    template: Template
    params: Params
    cause_event_id: UUID
    correlation_id: UUID | None
    page_id: UUID | None
    at: datetime
    next_attempt_at: datetime
    hold_reason: HoldReason | None


@dataclass(frozen=True)
class DeliveryHeld:
    """Not sent now (the recipient's quiet hours); tried again at `until`."""

    at: datetime
    until: datetime
    reason: HoldReason


@dataclass(frozen=True)
class DeliveryAttempted:
    """One call to a provider (or a failed look-up before it), and how it went."""

    at: datetime
    number: int
    channel: NotificationChannel
    outcome: AttemptOutcome
    error_code: str | None


@dataclass(frozen=True)
class RetryScheduled:
    at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class DeliverySucceeded:
    at: datetime
    attempts: int


@dataclass(frozen=True)
class DeliveryAbandoned:
    """Given up: a permanent failure, or too many transient ones."""

    at: datetime
    attempts: int
    error_code: str | None


@dataclass(frozen=True)
class DeliveryExpedited:
    """Moved to the front of its lane (the other channel of a page failed)."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class DeliveryDeferred:
    """Not attempted: notify's own side (booking's directory, notify's copy of the staff) could
    not answer, which says nothing about the recipient. No attempt is counted; it is tried
    again at `until`."""

    at: datetime
    until: datetime
    reason: str


@dataclass(frozen=True)
class ChannelFellBack:
    """A client's message refused for good on `failed` goes on `to` instead (once per message:
    `to` is the next channel of the client's order that has an address).

    With `next_attempt_at`: a text the provider took but whose delivery receipt said the
    carrier did not deliver it (`error_code` `receipt_failed`); the message, sent, is pending
    again by email from then on (its first `sent_at` kept until the email goes)."""

    at: datetime
    failed: NotificationChannel
    to: NotificationChannel
    error_code: str | None
    next_attempt_at: datetime | None = None  # absent in events from before receipts did this


@dataclass(frozen=True)
class FallbackDropped:
    """The email a failed receipt asked for (`ChannelFellBack` with `next_attempt_at`) cannot
    go: no email address, the client unknown to booking, or the message no longer useful (a
    reminder's appointment started, an offer expired). Nothing was attempted: the message is
    `sent` again by its text, as the receipt found it, with `reason` as its `last_error`."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class DeliveryWithdrawn:
    """Not sent after all: its reason (e.g. `alert_acknowledged`) made the message pointless."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class DeliveryReceiptRecorded:
    """A provider's delivery receipt for a message it accepted: coded status and error only
    (no number, no text). `provider`: `primary` or `fallback`, by the callback URL it used."""

    at: datetime
    status: ReceiptStatus
    error_code: str | None
    channel: NotificationChannel
    provider: str


@dataclass(frozen=True)
class DeliveryReopened:
    """A page the carrier did not deliver (its receipt said so) goes again at
    `next_attempt_at`; the attempt before records `receipt_failed`."""

    at: datetime
    next_attempt_at: datetime


NotificationEvent = (
    NotificationRequested
    | DeliveryHeld
    | DeliveryAttempted
    | RetryScheduled
    | DeliverySucceeded
    | DeliveryAbandoned
    | DeliveryExpedited
    | DeliveryWithdrawn
    | DeliveryDeferred
    | ChannelFellBack
    | DeliveryReceiptRecorded
    | DeliveryReopened
    | FallbackDropped
)

RECEIPT_FAILED = "receipt_failed"
"""The error code of the attempt a failed delivery receipt turns into a failure (a page), and
of the fallback to email it asks for (a client's text)."""

TEXT_CHANNELS = frozenset({NotificationChannel.SMS, NotificationChannel.MESSAGING})
"""The channels delivery receipts report on (a provider's HTTP API, a phone number)."""

EXPIRED = "expired"
"""Why a receipt's fallback is not sent: the message is of no use any more."""


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    id: UUID
    recipient_id: UUID
    recipient_kind: RecipientKind
    site_id: UUID
    lane: Lane
    channel: NotificationChannel
    requested_channel: Channel | None
    template: Template
    params: Params
    cause_event_id: UUID
    correlation_id: UUID | None
    page_id: UUID | None
    created_at: datetime
    next_attempt_at: datetime
    hold_reason: HoldReason | None = None
    status: NotificationStatus = NotificationStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    version: int = 0
    deferrals: int = 0
    deferred_since: datetime | None = None  # the first deferral: the max age counts from it
    failed_channel: NotificationChannel | None = None  # fell back from it: never tried again
    receipt_status: ReceiptStatus | None = None  # the last delivery receipt's
    receipt_error_code: str | None = None
    receipt_at: datetime | None = None
    receipt_provider: str | None = None
    resends: int = 0  # how often a failed receipt sent it again (its provider key says so)

    @property
    def is_pending(self) -> bool:
        return self.status is NotificationStatus.PENDING

    @property
    def receipt_fallback(self) -> bool:
        """A client's text the carrier did not deliver, gone (or going) again by email: a
        client's message is sent again after a receipt only that way, and only once."""
        return self.page_id is None and self.resends > 0

    @property
    def text_channel(self) -> NotificationChannel | None:
        """The SMS or messaging channel it went by (delivery receipts are about it): its
        channel, or the one it fell back from once it goes by email."""
        for channel in (self.channel, self.failed_channel):
            if channel in TEXT_CHANNELS:
                return channel
        return None

    @property
    def avoid_provider(self) -> str | None:
        """The provider whose receipt failed, while the re-send it asked for is due."""
        return self.receipt_provider if self.last_error == RECEIPT_FAILED else None


def evolve(state: Notification | None, event: NotificationEvent) -> Notification:
    if isinstance(event, NotificationRequested):
        assert state is None, "a notification is requested once"
        return Notification(
            id=event.notification_id,
            recipient_id=event.recipient_id,
            recipient_kind=event.recipient_kind,
            site_id=event.site_id,
            lane=event.lane,
            channel=event.channel,
            requested_channel=event.requested_channel,
            template=event.template,
            params=event.params,
            cause_event_id=event.cause_event_id,
            correlation_id=event.correlation_id,
            page_id=event.page_id,
            created_at=event.at,
            next_attempt_at=event.next_attempt_at,
            hold_reason=event.hold_reason,
            version=1,
        )
    assert state is not None, "events after NotificationRequested need a state"
    state = replace(state, version=state.version + 1)
    if isinstance(event, DeliveryHeld):
        return replace(state, next_attempt_at=event.until, hold_reason=event.reason)
    if isinstance(event, DeliveryAttempted):
        return replace(
            state,
            attempts=event.number,
            channel=event.channel,
            last_error=event.error_code,
            hold_reason=None,
        )
    if isinstance(event, RetryScheduled):
        return replace(state, next_attempt_at=event.next_attempt_at)
    if isinstance(event, DeliverySucceeded):
        return replace(state, status=NotificationStatus.SENT, sent_at=event.at)
    if isinstance(event, DeliveryAbandoned):
        # The error is the last attempt's (already there), or the deferral's that ran out.
        error = event.error_code if event.error_code is not None else state.last_error
        return replace(
            state, status=NotificationStatus.FAILED, failed_at=event.at, last_error=error
        )
    if isinstance(event, DeliveryDeferred):
        return replace(
            state,
            next_attempt_at=event.until,
            hold_reason=None,
            last_error=event.reason,
            deferrals=state.deferrals + 1,
            deferred_since=state.deferred_since or event.at,
        )
    if isinstance(event, ChannelFellBack):
        if event.next_attempt_at is not None:  # after a failed receipt: pending again
            return replace(
                state,
                channel=event.to,
                failed_channel=event.failed,
                status=NotificationStatus.PENDING,
                next_attempt_at=event.next_attempt_at,
                hold_reason=None,
                resends=state.resends + 1,
            )
        return replace(state, channel=event.to, failed_channel=event.failed)
    if isinstance(event, FallbackDropped):
        return replace(
            state,
            status=NotificationStatus.SENT,
            channel=state.failed_channel or state.channel,
            hold_reason=None,
            last_error=event.reason,
        )
    if isinstance(event, DeliveryExpedited):
        return replace(state, next_attempt_at=event.at, hold_reason=None)
    if isinstance(event, DeliveryWithdrawn):
        return replace(state, status=NotificationStatus.WITHDRAWN, hold_reason=None)
    if isinstance(event, DeliveryReceiptRecorded):
        return replace(
            state,
            receipt_status=event.status,
            receipt_error_code=event.error_code,
            receipt_at=event.at,
            receipt_provider=event.provider,
        )
    if isinstance(event, DeliveryReopened):
        return replace(
            state,
            status=NotificationStatus.PENDING,
            sent_at=None,
            next_attempt_at=event.next_attempt_at,
            hold_reason=None,
            resends=state.resends + 1,
        )
    raise TypeError(f"unknown notification event {event!r}")


def fold(state: Notification | None, events: Iterable[NotificationEvent]) -> Notification:
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


# --- decisions -----------------------------------------------------------------------------


def request(
    *,
    notification_id: UUID,
    recipient_id: UUID,
    recipient_kind: RecipientKind,
    site_id: UUID,
    lane: Lane,
    channel: NotificationChannel,
    template: Template,
    params: Params,
    cause_event_id: UUID,
    now: datetime,
    requested_channel: Channel | None = None,
    correlation_id: UUID | None = None,
    page_id: UUID | None = None,
    quiet_hours: QuietHours | None = None,
    zone: tzinfo | None = None,
    call_at: datetime | None = None,
) -> NotificationRequested:
    """Queue a message. Outside the crisis lane it waits out the recipient's quiet hours; a
    page's call waits until `call_at` (PAGE_CALL_DELAY after crisis requested the page)."""
    release = held_until(lane, quiet_hours, zone, now, deadline_of(params))
    reason = HoldReason.QUIET_HOURS if release else None
    if call_at is not None and call_at > now:
        release, reason = call_at, HoldReason.CALL_DELAY
    return NotificationRequested(
        notification_id=notification_id,
        recipient_id=recipient_id,
        recipient_kind=recipient_kind,
        site_id=site_id,
        lane=lane,
        channel=channel,
        requested_channel=requested_channel,
        template=template,
        params=params,
        cause_event_id=cause_event_id,
        correlation_id=correlation_id,
        page_id=page_id,
        at=now,
        next_attempt_at=release or now,
        hold_reason=reason,
    )


def held_until(
    lane: Lane,
    quiet_hours: QuietHours | None,
    zone: tzinfo | None,
    now: datetime,
    deadline: datetime | None = None,
) -> datetime | None:
    """The end of the recipient's quiet hours if `now` is inside them. Pages are never held,
    and neither is a message that would then arrive too late (a reminder whose appointment
    starts before the quiet hours end goes at once)."""
    if lane is Lane.CRISIS or quiet_hours is None or zone is None:
        return None
    release = quiet_hours.release_at(now, zone)
    if release is not None and deadline is not None and release >= deadline:
        return None
    return release


def deadline_of(params: Params) -> datetime | None:
    """When a message stops being useful: a reminder's appointment start."""
    start = params.get("appointment_start")
    return datetime.fromisoformat(start) if isinstance(start, str) else None


def useful_until(params: Params) -> datetime | None:
    """When a message is of no use any more, if it says: a reminder's appointment start, a
    waitlist offer's expiry. (Quiet hours look at the reminder's start only: an offer is held
    through them even if it expires meanwhile, see the README.)"""
    for key in ("appointment_start", "expires_at"):
        value = params.get(key)
        if isinstance(value, str):
            return datetime.fromisoformat(value)
    return None


_UNTIL_ITS_START = frozenset(
    {Template.APPOINTMENT_BOOKED, Template.APPOINTMENT_RESCHEDULED, Template.APPOINTMENT_CANCELLED}
)


def worth_resending_until(template: Template, params: Params) -> datetime | None:
    """When a message whose text was not delivered is no longer worth sending by email:
    `useful_until` (a reminder's appointment start, a waitlist offer's expiry), or an
    appointment's start for its confirmation (booked, moved, cancelled). Others (a check-in's
    answer link, a fee notice, a series' summary) carry no deadline notify knows."""
    until = useful_until(params)
    start = params.get("start")
    if until is None and template in _UNTIL_ITS_START and isinstance(start, str):
        until = datetime.fromisoformat(start)
    return until


def no_longer_worth_resending(state: Notification, now: datetime) -> bool:
    until = worth_resending_until(state.template, state.params)
    return until is not None and now >= until


DEFER_MAX_DELAY = timedelta(minutes=5)
"""The longest wait between two looks while notify's own side is down: the lane's back-off,
capped lower than for a provider's failures, so messages go soon after booking is back."""


def defer(
    state: Notification,
    reason: str,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
    max_age: timedelta,
) -> list[NotificationEvent]:
    """Our own side could not answer: try again later without counting an attempt, until the
    message's own deadline (`useful_until`), else `max_age` after its first deferral; then
    it fails with `reason`."""
    _require_pending(state)
    deadline = useful_until(state.params) or (state.deferred_since or now) + max_age
    if now >= deadline:
        if state.receipt_fallback:  # its text went: back to `sent`, not failed unattempted
            return [FallbackDropped(at=now, reason=reason)]
        return [DeliveryAbandoned(at=now, attempts=state.attempts, error_code=reason)]
    # The lane's back-off with its ceiling capped (the jitter still spreads the herd).
    capped = RetryPolicy(
        policy.max_attempts,
        min(policy.base, DEFER_MAX_DELAY),
        min(policy.max_delay, DEFER_MAX_DELAY),
    )
    wait = capped.delay_after(state.deferrals + 1, jitter)
    return [DeliveryDeferred(at=now, until=min(now + wait, deadline), reason=reason)]


def fall_back(
    state: Notification,
    failed: NotificationChannel,
    outcome: DeliveryOutcome,
    to: NotificationChannel,
    now: datetime,
) -> list[NotificationEvent]:
    """The attempt on `failed` would end the message; it goes on `to` instead (the caller
    records that attempt next). Once: a message that fell back already cannot again."""
    _require_pending(state)
    if state.failed_channel is not None:
        raise ValueError(f"notification {state.id} fell back from {state.failed_channel} already")
    return [
        DeliveryAttempted(
            at=now,
            number=state.attempts + 1,
            channel=failed,
            outcome=outcome.kind,
            error_code=outcome.error_code,
        ),
        ChannelFellBack(at=now, failed=failed, to=to, error_code=outcome.error_code),
    ]


def ends_it(state: Notification, outcome: DeliveryOutcome, policy: RetryPolicy) -> bool:
    """Whether this attempt's outcome would give the message up (refused, or the last try)."""
    if outcome.kind is AttemptOutcome.SENT:
        return False
    return outcome.kind is AttemptOutcome.PERMANENT_FAILURE or policy.gives_up_after(
        state.attempts + 1
    )


def hold_if_quiet(
    state: Notification, quiet_hours: QuietHours | None, zone: tzinfo | None, now: datetime
) -> list[NotificationEvent]:
    """At send time: hold the message if the recipient's quiet hours have begun since."""
    _require_pending(state)
    release = held_until(state.lane, quiet_hours, zone, now, deadline_of(state.params))
    if release is None:
        return []
    return [DeliveryHeld(at=now, until=release, reason=HoldReason.QUIET_HOURS)]


def record_attempt(
    state: Notification,
    channel: NotificationChannel,
    outcome: DeliveryOutcome,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
) -> list[NotificationEvent]:
    """Record an attempt and what follows: sent, a retry later, or giving up."""
    _require_pending(state)
    number = state.attempts + 1
    events: list[NotificationEvent] = [
        DeliveryAttempted(
            at=now,
            number=number,
            channel=channel,
            outcome=outcome.kind,
            error_code=outcome.error_code,
        )
    ]
    if outcome.kind is AttemptOutcome.SENT:
        events.append(DeliverySucceeded(at=now, attempts=number))
    elif outcome.kind is AttemptOutcome.PERMANENT_FAILURE or policy.gives_up_after(number):
        events.append(DeliveryAbandoned(at=now, attempts=number, error_code=outcome.error_code))
    else:
        events.append(
            RetryScheduled(at=now, next_attempt_at=now + policy.delay_after(number, jitter))
        )
    return events


def expedite(state: Notification, now: datetime, reason: str) -> list[NotificationEvent]:
    """Try a pending message now instead of at its scheduled retry."""
    if not state.is_pending or state.next_attempt_at <= now:
        return []
    return [DeliveryExpedited(at=now, reason=reason)]


def withdraw(state: Notification, now: datetime, reason: str) -> list[NotificationEvent]:
    """Give up a message nobody needs any more (pending only: sent is sent)."""
    if not state.is_pending:
        return []
    return [DeliveryWithdrawn(at=now, reason=reason)]


def record_receipt(
    state: Notification,
    status: ReceiptStatus,
    error_code: str | None,
    provider: str,
    now: datetime,
) -> list[NotificationEvent]:
    """A delivery receipt as it comes (a late `delivered` after a `failed` too, or after the
    message fell back to email: recorded, nothing else); nothing when it repeats the last one
    (providers send a receipt again until answered). It is about the text channel."""
    if (state.receipt_status, state.receipt_error_code, state.receipt_provider) == (
        status,
        error_code,
        provider,
    ):
        return []
    return [
        DeliveryReceiptRecorded(
            at=now,
            status=status,
            error_code=error_code,
            channel=state.text_channel or state.channel,
            provider=provider,
        )
    ]


def resend_after_receipt(
    state: Notification,
    receipt: Sequence[NotificationEvent],
    *,
    other_provider: bool,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
) -> list[NotificationEvent]:
    """After a receipt saying a sent PAGE never reached the phone: that attempt counts as
    failed (`receipt_failed`) and the page goes again, within its attempt budget: at once when
    another provider can take it (`other_provider`), else after the lane's back-off. A
    client's message (`fall_back_after_receipt`), or one not (or no longer) sent, is left as
    it is here."""
    last = receipt[-1] if receipt else None
    if (
        not isinstance(last, DeliveryReceiptRecorded)
        or not last.status.is_failure
        or state.lane is not Lane.CRISIS
        or state.page_id is None
        or state.status is not NotificationStatus.SENT
    ):
        return []
    number = state.attempts + 1
    failed = DeliveryAttempted(
        at=now,
        number=number,
        channel=last.channel,
        outcome=AttemptOutcome.TRANSIENT_FAILURE,
        error_code=RECEIPT_FAILED,
    )
    if policy.gives_up_after(number):
        return [failed, DeliveryAbandoned(at=now, attempts=number, error_code=RECEIPT_FAILED)]
    at = now if other_provider else now + policy.delay_after(number, jitter)
    return [failed, DeliveryReopened(at=now, next_attempt_at=at)]


def calls_for_fallback(state: Notification, receipt: Sequence[NotificationEvent]) -> bool:
    """Whether `receipt` (the events recording it) says a client's text, sent, never reached
    the phone, on a message that has not fallen back yet. `failed` (the provider or carrier
    could not send it) and `undelivered` (the carrier could not hand it over) are both final
    for that message; `delivered` is the only other status a receipt may have (a provider's
    intermediate ones, queued or sent, are no verdict and are not accepted)."""
    last = receipt[-1] if receipt else None
    return (
        isinstance(last, DeliveryReceiptRecorded)
        and last.status.is_failure
        and state.recipient_kind is RecipientKind.CLIENT
        and state.page_id is None
        and state.status is NotificationStatus.SENT
        and state.channel in TEXT_CHANNELS
        and state.failed_channel is None  # once per message, whatever made it fall back
    )


def fall_back_after_receipt(
    state: Notification, receipt: Sequence[NotificationEvent], now: datetime
) -> list[NotificationEvent]:
    """A client's text the carrier did not deliver goes by email (the next channel that is
    not a text), once: pending again in the bulk lane, where quiet hours, the email address
    and the deadline are looked at as for any message. Nothing when the receipt does not
    call for it, or the message is of no use any more."""
    if not calls_for_fallback(state, receipt) or no_longer_worth_resending(state, now):
        return []
    fell_back = ChannelFellBack(
        at=now,
        failed=state.channel,
        to=NotificationChannel.EMAIL,
        error_code=RECEIPT_FAILED,
        next_attempt_at=now,
    )
    return [fell_back]


def drop_fallback(state: Notification, reason: str, now: datetime) -> list[NotificationEvent]:
    """The email a failed receipt asked for cannot go (`reason`): the message is `sent` by
    its text again, as the receipt found it; nothing is attempted."""
    _require_pending(state)
    if not state.receipt_fallback:
        raise ValueError(f"notification {state.id} is no receipt's fallback")
    return [FallbackDropped(at=now, reason=reason)]


def _require_pending(state: Notification) -> None:
    if not state.is_pending:
        raise NotPending(f"notification {state.id} is already {state.status}")
