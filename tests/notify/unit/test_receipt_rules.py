"""Delivery receipts on the Notification aggregate: recorded as they come, a repeat is
nothing, and a page whose receipt failed goes again within its attempts."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from counseling_shared.codes import NotificationChannel
from notify.domain import notification as rules
from notify.domain.codes import (
    AttemptOutcome,
    Lane,
    NotificationStatus,
    ReceiptStatus,
    RecipientKind,
    Template,
)
from notify.domain.notification import DeliveryOutcome, Notification, fold
from notify.domain.retry import RetryPolicy

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), max_delay=timedelta(minutes=5))
SMS = NotificationChannel.SMS


def sent(lane: Lane = Lane.CRISIS) -> Notification:
    page = lane is Lane.CRISIS
    requested = rules.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.STAFF if page else RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=lane,
        channel=SMS,
        template=Template.CRISIS_PAGE if page else Template.FOLLOWUP_DUE,
        params={},
        cause_event_id=uuid4(),
        now=NOW,
        page_id=uuid4() if page else None,
    )
    state = fold(None, [requested])
    return fold(state, rules.record_attempt(state, SMS, DeliveryOutcome.sent(), NOW, POLICY, 0.5))


def receive(
    state: Notification, status: ReceiptStatus, provider: str = "primary", *, other: bool = True
) -> tuple[Notification, list[rules.NotificationEvent]]:
    events = rules.record_receipt(state, status, "30003", provider, NOW)
    events += rules.resend_after_receipt(
        state, events, other_provider=other, now=NOW, policy=POLICY, jitter=0.0
    )
    return fold(state, events), events


def test_a_receipt_is_recorded_and_the_same_one_again_is_nothing() -> None:
    state, _ = receive(sent(Lane.BULK), ReceiptStatus.DELIVERED)
    assert (state.receipt_status, state.receipt_error_code, state.receipt_at) == (
        ReceiptStatus.DELIVERED,
        "30003",
        NOW,
    )
    assert rules.record_receipt(state, ReceiptStatus.DELIVERED, "30003", "primary", NOW) == []
    # The same status from the other provider is news (it took the message again).
    assert rules.record_receipt(state, ReceiptStatus.DELIVERED, "30003", "fallback", NOW) != []


def test_a_clients_failed_receipt_is_recorded_only() -> None:
    state, events = receive(sent(Lane.BULK), ReceiptStatus.FAILED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded]
    assert (state.status, state.attempts) == (NotificationStatus.SENT, 1)


def test_a_pages_failed_receipt_sends_it_again_at_once_avoiding_that_provider() -> None:
    state, events = receive(sent(), ReceiptStatus.UNDELIVERED)
    assert (state.status, state.attempts, state.next_attempt_at) == (
        NotificationStatus.PENDING,
        2,
        NOW,
    )
    assert (state.last_error, state.avoid_provider, state.resends) == (
        rules.RECEIPT_FAILED,
        "primary",
        1,
    )
    failed = events[1]
    assert isinstance(failed, rules.DeliveryAttempted)
    assert failed.outcome is AttemptOutcome.TRANSIENT_FAILURE
    # Its next attempt ends the avoidance: a retry after that is the usual order again.
    after = fold(state, rules.record_attempt(state, SMS, DeliveryOutcome.sent(), NOW, POLICY, 0))
    assert (after.status, after.avoid_provider, after.resends) == (NotificationStatus.SENT, None, 1)


def test_without_another_provider_the_page_waits_for_the_back_off() -> None:
    state, _ = receive(sent(), ReceiptStatus.FAILED, other=False)
    assert state.next_attempt_at == NOW + POLICY.delay_after(2, 0.0)


def test_a_delivered_receipt_or_a_late_failed_one_on_a_pending_page_sends_nothing() -> None:
    _, events = receive(sent(), ReceiptStatus.DELIVERED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded]
    reopened, _ = receive(sent(), ReceiptStatus.FAILED)
    _, again = receive(reopened, ReceiptStatus.UNDELIVERED)  # still pending: not twice
    assert [type(e) for e in again] == [rules.DeliveryReceiptRecorded]


def test_a_page_with_its_attempts_spent_fails_instead() -> None:
    state = sent()
    state, _ = receive(state, ReceiptStatus.FAILED)  # attempt 2: receipt_failed
    state = fold(state, rules.record_attempt(state, SMS, DeliveryOutcome.sent(), NOW, POLICY, 0))
    state, events = receive(state, ReceiptStatus.UNDELIVERED)  # attempt 4 > 3
    assert isinstance(events[-1], rules.DeliveryAbandoned)
    assert (state.status, state.last_error) == (NotificationStatus.FAILED, rules.RECEIPT_FAILED)
