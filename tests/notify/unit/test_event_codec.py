"""notify's stored events read back as they were written (what a rebuild folds), from the
parsed data and from the stored JSON text alike."""

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared.codes import Channel, NotificationChannel
from counseling_shared.eventstore import RecordedEvent
from notify.adapters.event_codec import from_recorded, from_stored_json, to_new_event
from notify.domain import notification as rules
from notify.domain.codes import (
    AttemptOutcome,
    HoldReason,
    Lane,
    ReceiptStatus,
    RecipientKind,
    Template,
)
from notify.domain.preferences import PreferencesSet
from notify.domain.quiet_hours import QuietHours

AT = datetime(2026, 3, 29, 1, 30, 15, 250_000, tzinfo=UTC)
LATER = AT + timedelta(hours=6)

EVENTS: list[Any] = [
    rules.NotificationRequested(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.STAFF,
        site_id=uuid4(),
        lane=Lane.CRISIS,
        channel=NotificationChannel.SMS,
        requested_channel=Channel.PHONE,
        template=Template.CRISIS_PAGE,
        params={"alert_id": str(uuid4()), "level": 2, "late": False, "previous_start": None},
        cause_event_id=uuid4(),
        correlation_id=uuid4(),
        page_id=uuid4(),
        at=AT,
        next_attempt_at=LATER,
        hold_reason=HoldReason.QUIET_HOURS,
    ),
    rules.NotificationRequested(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.CLIENT,
        site_id=uuid4(),
        lane=Lane.BULK,
        channel=NotificationChannel.EMAIL,
        requested_channel=None,
        template=Template.FOLLOWUP_DUE,
        params={},
        cause_event_id=uuid4(),
        correlation_id=None,
        page_id=None,
        at=AT,
        next_attempt_at=AT,
        hold_reason=None,
    ),
    rules.DeliveryHeld(at=AT, until=LATER, reason=HoldReason.QUIET_HOURS),
    rules.DeliveryAttempted(
        at=AT,
        number=3,
        channel=NotificationChannel.MESSAGING,
        outcome=AttemptOutcome.TRANSIENT_FAILURE,
        error_code="http_503",
    ),
    rules.DeliveryAttempted(
        at=AT,
        number=1,
        channel=NotificationChannel.EMAIL,
        outcome=AttemptOutcome.SENT,
        error_code=None,
    ),
    rules.RetryScheduled(at=AT, next_attempt_at=LATER),
    rules.DeliverySucceeded(at=AT, attempts=2),
    rules.DeliveryAbandoned(at=AT, attempts=4, error_code="http_400"),
    rules.DeliveryExpedited(at=AT, reason="sms_failed"),
    rules.DeliveryDeferred(at=AT, until=LATER, reason="directory_unavailable"),
    rules.ChannelFellBack(
        at=AT, failed=NotificationChannel.SMS, to=NotificationChannel.EMAIL, error_code="http_400"
    ),
    rules.DeliveryReceiptRecorded(
        at=AT,
        status=ReceiptStatus.UNDELIVERED,
        error_code="30003",
        channel=NotificationChannel.SMS,
        provider="fallback",
    ),
    rules.DeliveryReopened(at=AT, next_attempt_at=LATER),
    rules.ChannelFellBack(
        at=AT,
        failed=NotificationChannel.MESSAGING,
        to=NotificationChannel.EMAIL,
        error_code="receipt_failed",
        next_attempt_at=LATER,
    ),
    rules.FallbackDropped(at=AT, reason="no_address"),
    PreferencesSet(uuid4(), QuietHours(time(21, 0), time(8, 0)), Channel.SMS, AT),
    PreferencesSet(uuid4(), None, None, AT),
]


def recorded(event: Any) -> RecordedEvent:
    stored = to_new_event(event)
    return RecordedEvent(1, stored.id, "stream", 1, stored.type, stored.data, {}, AT, 1)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_a_stored_event_reads_back_equal(event: Any) -> None:
    assert from_recorded(recorded(event)) == event


def test_an_event_type_notify_never_stores_is_refused() -> None:
    stored = recorded(EVENTS[-1])
    stranger = RecordedEvent(1, stored.id, "stream", 1, "AlertRaised", {}, {}, AT, 1)

    with pytest.raises(ValueError, match="AlertRaised"):
        from_recorded(stranger)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_a_stored_events_json_text_reads_back_equal_to_its_parsed_data(event: Any) -> None:
    stored = to_new_event(event)
    text = json.dumps(stored.data, separators=(", ", ": "))  # as jsonb prints it

    from_text = from_stored_json(stored.type, text)

    assert from_text == event
    assert from_text == from_recorded(recorded(event))
    assert type(from_text) is type(event)


def test_an_event_type_notify_never_stores_is_refused_from_its_text() -> None:
    with pytest.raises(ValueError, match="AlertRaised"):
        from_stored_json("AlertRaised", "{}")


def test_a_channel_fell_back_stored_before_receipts_fell_back_reads_without_a_reopening() -> None:
    old = {"at": AT.isoformat(), "failed": "sms", "to": "email", "error_code": "http_400"}
    event = from_stored_json("ChannelFellBack", json.dumps(old))
    assert isinstance(event, rules.ChannelFellBack)
    assert event.next_attempt_at is None
