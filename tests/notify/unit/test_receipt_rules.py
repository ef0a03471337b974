"""Delivery receipts on the Notification aggregate: recorded as they come, a repeat is
nothing, a page whose receipt failed goes again within its attempts, and a client's text
whose receipt failed goes once by email while it is of use."""

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
from notify.domain.notification import DeliveryOutcome, Notification, Params, fold
from notify.domain.retry import RetryPolicy

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), max_delay=timedelta(minutes=5))
SMS = NotificationChannel.SMS


def sent(
    lane: Lane = Lane.CRISIS,
    *,
    template: Template | None = None,
    params: Params | None = None,
    channel: NotificationChannel = SMS,
) -> Notification:
    page = lane is Lane.CRISIS
    requested = rules.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.STAFF if page else RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=lane,
        channel=channel,
        template=template or (Template.CRISIS_PAGE if page else Template.FOLLOWUP_DUE),
        params=params or {},
        cause_event_id=uuid4(),
        now=NOW,
        page_id=uuid4() if page else None,
    )
    state = fold(None, [requested])
    outcome = DeliveryOutcome.sent()
    return fold(state, rules.record_attempt(state, channel, outcome, NOW, POLICY, 0.5))


def receive(
    state: Notification, status: ReceiptStatus, provider: str = "primary", *, other: bool = True
) -> tuple[Notification, list[rules.NotificationEvent]]:
    events = rules.record_receipt(state, status, "30003", provider, NOW)
    events += rules.fall_back_after_receipt(state, events, NOW) or rules.resend_after_receipt(
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


def test_a_clients_failed_receipt_sends_it_once_by_email() -> None:
    text = sent(Lane.BULK)
    state, events = receive(text, ReceiptStatus.FAILED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded, rules.ChannelFellBack]
    fell_back = events[1]
    assert isinstance(fell_back, rules.ChannelFellBack)
    assert (fell_back.failed, fell_back.to, fell_back.error_code) == (
        SMS,
        NotificationChannel.EMAIL,
        rules.RECEIPT_FAILED,
    )
    assert (state.status, state.channel, state.failed_channel, state.next_attempt_at) == (
        NotificationStatus.PENDING,
        NotificationChannel.EMAIL,
        SMS,
        NOW,
    )
    # No attempt was made; the text's sent_at stays until the email goes.
    assert (state.attempts, state.sent_at, state.resends) == (1, text.sent_at, 1)
    assert state.receipt_fallback
    assert state.text_channel is SMS
    # Another failed receipt (or the same from the other provider) does not send it again.
    for status, provider in (
        (ReceiptStatus.UNDELIVERED, "primary"),
        (ReceiptStatus.FAILED, "fallback"),
    ):
        _, again = receive(state, status, provider)
        assert [type(e) for e in again] == [rules.DeliveryReceiptRecorded]
    # A late `delivered` is recorded and changes nothing.
    late, again = receive(state, ReceiptStatus.DELIVERED)
    assert [type(e) for e in again] == [rules.DeliveryReceiptRecorded]
    assert (late.status, late.channel) == (NotificationStatus.PENDING, NotificationChannel.EMAIL)


def test_a_messaging_text_falls_back_too_and_undelivered_counts() -> None:
    messaging = NotificationChannel.MESSAGING
    state, _ = receive(sent(Lane.BULK, channel=messaging), ReceiptStatus.UNDELIVERED)
    assert (state.channel, state.failed_channel) == (NotificationChannel.EMAIL, messaging)


def test_a_delivered_receipt_on_a_clients_text_is_recorded_only() -> None:
    state, events = receive(sent(Lane.BULK), ReceiptStatus.DELIVERED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded]
    assert (state.status, state.attempts) == (NotificationStatus.SENT, 1)


def test_a_message_of_no_use_any_more_is_recorded_only() -> None:
    past, later = (NOW - timedelta(minutes=1)).isoformat(), (NOW + timedelta(hours=1)).isoformat()
    useless = [
        sent(Lane.BULK, params={"appointment_start": past}),  # a reminder, its session begun
        sent(
            Lane.BULK, template=Template.WAITLIST_OFFER, params={"start": later, "expires_at": past}
        ),
        sent(Lane.BULK, template=Template.APPOINTMENT_BOOKED, params={"start": past}),
        sent(Lane.BULK, template=Template.APPOINTMENT_CANCELLED, params={"start": NOW.isoformat()}),
    ]
    for text in useless:
        state, events = receive(text, ReceiptStatus.FAILED)
        assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded], text.template
        assert state.status is NotificationStatus.SENT
    still = [
        sent(Lane.BULK, params={"appointment_start": later}),
        sent(Lane.BULK, template=Template.APPOINTMENT_BOOKED, params={"start": later}),
        # A fee notice names a past session, and stays of use.
        sent(Lane.BULK, template=Template.MISSED_SESSION_FEE, params={"start": past}),
    ]
    for text in still:
        _, events = receive(text, ReceiptStatus.FAILED)
        assert isinstance(events[-1], rules.ChannelFellBack), text.template


def test_a_message_that_fell_back_once_already_does_not_again() -> None:
    requested = rules.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=Lane.BULK,
        channel=SMS,
        template=Template.FOLLOWUP_DUE,
        params={},
        cause_event_id=uuid4(),
        now=NOW,
    )
    state = fold(None, [requested])
    messaging = NotificationChannel.MESSAGING
    refused = DeliveryOutcome.permanent("http_400")
    state = fold(state, rules.fall_back(state, SMS, refused, messaging, NOW))
    state = fold(
        state, rules.record_attempt(state, messaging, DeliveryOutcome.sent(), NOW, POLICY, 0)
    )
    after, events = receive(state, ReceiptStatus.FAILED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded]
    assert (after.status, after.channel) == (NotificationStatus.SENT, messaging)


def test_a_dropped_fallback_is_sent_by_its_text_again() -> None:
    text = sent(Lane.BULK)
    state, _ = receive(text, ReceiptStatus.FAILED)
    dropped = fold(state, rules.drop_fallback(state, "no_address", NOW))
    assert (dropped.status, dropped.channel, dropped.failed_channel) == (
        NotificationStatus.SENT,
        SMS,
        SMS,
    )
    assert (dropped.sent_at, dropped.attempts, dropped.last_error) == (
        text.sent_at,
        1,
        "no_address",
    )
    # Once: a later failed receipt does not queue it again.
    _, events = receive(dropped, ReceiptStatus.UNDELIVERED)
    assert [type(e) for e in events] == [rules.DeliveryReceiptRecorded]


def test_a_fallback_deferred_past_its_deadline_is_dropped_not_failed() -> None:
    start = (NOW + timedelta(minutes=30)).isoformat()
    state, _ = receive(sent(Lane.BULK, params={"appointment_start": start}), ReceiptStatus.FAILED)
    later = NOW + timedelta(hours=1)
    events = rules.defer(state, "directory_unavailable", later, POLICY, 0.0, timedelta(hours=6))
    assert [type(e) for e in events] == [rules.FallbackDropped]
    assert fold(state, events).status is NotificationStatus.SENT


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
