"""A rebuilt notification is written once, as its events left it: its final row and its
attempts copied, never an insert then an update of the same row (each a row version and index
entries in the rebuild's transaction)."""

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from counseling_shared.batched_writes import RecordedWrites
from counseling_shared.codes import NotificationChannel
from counseling_shared.eventstore import StoredJson
from notify.adapters.event_codec import to_new_event
from notify.application.rebuild import Kept, _rebuild_notification
from notify.domain import notification as rules
from notify.domain.codes import AttemptOutcome, Lane, RecipientKind, Template

AT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def _recorded(events: list[rules.NotificationEvent]) -> list[StoredJson]:
    stream = f"notification-{uuid4()}"
    return [
        StoredJson(
            stream_id=stream,
            version=n,
            type=(new := to_new_event(event)).type,
            data_json=json.dumps(new.data),
            recorded_at=AT,
        )
        for n, event in enumerate(events, start=1)
    ]


def _requested() -> rules.NotificationRequested:
    return rules.NotificationRequested(
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
    )


async def test_a_notification_sent_after_a_retry_is_one_row_written_once() -> None:
    requested = _requested()
    refused = rules.DeliveryAttempted(
        AT, 1, NotificationChannel.EMAIL, AttemptOutcome.TRANSIENT_FAILURE, "smtp_421"
    )
    retry = rules.RetryScheduled(AT, AT + timedelta(minutes=1))
    sent = rules.DeliveryAttempted(
        AT + timedelta(minutes=1), 2, NotificationChannel.EMAIL, AttemptOutcome.SENT, None
    )
    writes = RecordedWrites()

    await _rebuild_notification(writes.connection, _recorded([requested, refused, retry, sent]), {})

    calls = writes.take()
    assert [" ".join(sql.split()[:2]) for sql in calls] == [
        "COPY notifications",
        "COPY notification_attempts",
    ]
    [row], attempts = calls.values()
    final = rules.fold(None, [requested, refused, retry, sent])
    assert final.attempts == 2  # not the requested state's row
    assert (row[0], row[9], row[10], row[11]) == (
        final.id,
        final.status.value,
        final.attempts,
        final.next_attempt_at,
    )
    assert [(a[0], a[1]) for a in attempts] == [(final.id, 1), (final.id, 2)]


async def test_a_rebuilt_row_is_inserted_with_the_claim_and_trace_kept_for_it() -> None:
    claimed, other = _requested(), _requested()
    lease = AT + timedelta(minutes=5)
    trace = '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'
    kept = {claimed.notification_id: Kept(lease, trace)}
    writes = RecordedWrites()

    await _rebuild_notification(writes.connection, _recorded([claimed]), kept)
    await _rebuild_notification(writes.connection, _recorded([other]), kept)

    [(sql, rows)] = writes.take().items()
    columns = [c.strip() for c in sql.split("(", 1)[1].split(")", 1)[0].split(",")]
    inserted = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [(r["id"], r["claimed_until"], r["trace_headers"]) for r in inserted] == [
        (claimed.notification_id, lease, trace),
        (other.notification_id, None, "{}"),
    ]
