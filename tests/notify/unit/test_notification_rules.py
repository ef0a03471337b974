"""The Notification aggregate: what an attempt leads to, holds, and expediting a page."""

from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.codes import NotificationChannel
from notify.domain import notification as rules
from notify.domain.codes import (
    AttemptOutcome,
    HoldReason,
    Lane,
    NotificationStatus,
    RecipientKind,
    Template,
)
from notify.domain.notification import DeliveryOutcome, Notification, NotPending, fold
from notify.domain.quiet_hours import QuietHours
from notify.domain.retry import RetryPolicy

NOW = datetime(2025, 6, 11, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base=timedelta(seconds=10), max_delay=timedelta(minutes=5))
NIGHT_IN_UTC = QuietHours(time(9, 0), time(12, 0))  # covers NOW in UTC
EMAIL = NotificationChannel.EMAIL


def queued(
    lane: Lane = Lane.BULK, quiet: QuietHours | None = None, params: dict[str, str] | None = None
) -> Notification:
    requested = rules.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.CLIENT if lane is Lane.BULK else RecipientKind.STAFF,
        site_id=uuid4(),
        lane=lane,
        channel=EMAIL,
        template=Template.FOLLOWUP_DUE if lane is Lane.BULK else Template.CRISIS_PAGE,
        params=params or {"kind": "checkin"},
        cause_event_id=uuid4(),
        now=NOW,
        quiet_hours=quiet,
        zone=ZoneInfo("UTC"),
    )
    return fold(None, [requested])


def attempt(state: Notification, outcome: DeliveryOutcome, at: datetime = NOW) -> Notification:
    return fold(state, rules.record_attempt(state, EMAIL, outcome, at, POLICY, jitter=0.5))


def test_a_new_notification_is_due_at_once_outside_quiet_hours() -> None:
    state = queued()
    assert (state.status, state.next_attempt_at, state.hold_reason) == (
        NotificationStatus.PENDING,
        NOW,
        None,
    )


def test_a_followup_asked_for_in_quiet_hours_waits_for_the_window_to_end() -> None:
    state = queued(quiet=NIGHT_IN_UTC)
    assert state.next_attempt_at == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
    assert state.hold_reason is HoldReason.QUIET_HOURS


@pytest.mark.parametrize(
    ("start", "held"),
    [
        (datetime(2025, 6, 11, 11, 0, tzinfo=UTC), False),  # before the quiet hours end: at once
        (datetime(2025, 6, 11, 12, 0, tzinfo=UTC), False),  # as they end: too late, at once
        (datetime(2025, 6, 11, 14, 0, tzinfo=UTC), True),  # after: it still arrives in time
    ],
)
def test_quiet_hours_hold_a_reminder_only_when_it_still_arrives_before_the_session(
    start: datetime, held: bool
) -> None:
    params = {"kind": "reminder", "appointment_start": start.isoformat()}
    state = queued(quiet=NIGHT_IN_UTC, params=params)
    assert (state.hold_reason is HoldReason.QUIET_HOURS) == held
    assert state.next_attempt_at == (datetime(2025, 6, 11, 12, 0, tzinfo=UTC) if held else NOW)
    later = rules.hold_if_quiet(state, NIGHT_IN_UTC, ZoneInfo("UTC"), NOW)
    assert bool(later) == held


def test_a_page_is_never_held_by_quiet_hours() -> None:
    state = queued(Lane.CRISIS, quiet=NIGHT_IN_UTC)
    assert state.next_attempt_at == NOW
    assert rules.hold_if_quiet(state, NIGHT_IN_UTC, ZoneInfo("UTC"), NOW) == []


def test_quiet_hours_that_began_since_hold_the_message_at_send_time() -> None:
    state = queued()
    held = fold(state, rules.hold_if_quiet(state, NIGHT_IN_UTC, ZoneInfo("UTC"), NOW))
    assert held.next_attempt_at == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
    assert held.attempts == 0  # holding is not an attempt


def test_a_sent_attempt_ends_the_notification() -> None:
    sent = attempt(queued(), DeliveryOutcome.sent())
    assert (sent.status, sent.sent_at, sent.attempts) == (NotificationStatus.SENT, NOW, 1)


def test_a_transient_failure_schedules_a_retry_with_back_off() -> None:
    retrying = attempt(queued(), DeliveryOutcome.transient("smtp_451"))
    assert retrying.status is NotificationStatus.PENDING
    assert retrying.last_error == "smtp_451"
    assert retrying.next_attempt_at == NOW + timedelta(seconds=7.5)  # 10 s ceiling, jitter 0.5


def test_transient_failures_give_up_after_the_last_attempt() -> None:
    state = queued()
    for n in range(1, POLICY.max_attempts + 1):
        state = attempt(state, DeliveryOutcome.transient("http_503"), NOW + timedelta(minutes=n))
    assert state.status is NotificationStatus.FAILED
    assert state.attempts == POLICY.max_attempts
    assert state.last_error == "http_503"


def test_a_permanent_failure_fails_at_once() -> None:
    failed = attempt(queued(), DeliveryOutcome.permanent("http_400"))
    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 1)


def test_every_attempt_is_an_event_with_its_number_and_outcome() -> None:
    state = attempt(queued(), DeliveryOutcome.transient("smtp_unreachable"))
    events = rules.record_attempt(state, EMAIL, DeliveryOutcome.sent(), NOW, POLICY, 0.0)
    first = events[0]
    assert isinstance(first, rules.DeliveryAttempted)
    assert (first.number, first.outcome) == (2, AttemptOutcome.SENT)
    assert isinstance(events[1], rules.DeliverySucceeded)


def test_nothing_more_is_recorded_once_sent() -> None:
    sent = attempt(queued(), DeliveryOutcome.sent())
    with pytest.raises(NotPending):
        rules.record_attempt(sent, EMAIL, DeliveryOutcome.sent(), NOW, POLICY, 0.0)


def test_a_waiting_message_is_expedited_and_a_due_one_is_left_alone() -> None:
    retrying = attempt(queued(), DeliveryOutcome.transient("smtp_451"))
    later = NOW + timedelta(seconds=1)
    [expedited] = rules.expedite(retrying, later, reason="sms_failed")
    assert fold(retrying, [expedited]).next_attempt_at == later
    assert rules.expedite(queued(), later, reason="sms_failed") == []
    assert rules.expedite(attempt(queued(), DeliveryOutcome.sent()), later, "sms_failed") == []


def test_versions_count_events() -> None:
    state = attempt(queued(), DeliveryOutcome.transient("smtp_451"))
    assert state.version == 3  # requested, attempted, retry scheduled


# --- our own side down: deferred, not attempted -------------------------------------------

MAX_AGE = timedelta(hours=6)
SMS = NotificationChannel.SMS


def deferred(
    state: Notification, at: datetime, reason: str = "directory_unavailable"
) -> Notification:
    return fold(state, rules.defer(state, reason, at, POLICY, jitter=0.5, max_age=MAX_AGE))


def test_a_deferral_counts_no_attempt_and_waits_longer_each_time_up_to_its_cap() -> None:
    state, at, waits = queued(), NOW, []
    for _ in range(12):  # twice NOTIFY_MAX_ATTEMPTS and more: still pending
        state = deferred(state, at)
        waits.append(state.next_attempt_at - at)
        at = state.next_attempt_at
    assert (state.status, state.attempts, state.deferrals) == (NotificationStatus.PENDING, 0, 12)
    assert state.last_error == "directory_unavailable"
    assert state.deferred_since == NOW
    assert waits[0] == timedelta(seconds=7.5)  # the lane's back-off: 10 s ceiling, jitter 0.5
    assert waits[1] == timedelta(seconds=15)
    assert max(waits) == waits[-1] == rules.DEFER_MAX_DELAY * 0.75  # capped, then jittered


def test_without_a_deadline_of_its_own_a_message_waits_the_max_age_then_fails() -> None:
    state = deferred(queued(), NOW)
    almost = NOW + MAX_AGE - timedelta(seconds=5)
    last = deferred(state, almost)
    assert last.status is NotificationStatus.PENDING
    assert last.next_attempt_at == NOW + MAX_AGE  # never past it
    events = rules.defer(last, "directory_unavailable", NOW + MAX_AGE, POLICY, 0.5, MAX_AGE)
    gone = fold(last, events)
    assert (gone.status, gone.attempts, gone.last_error) == (
        NotificationStatus.FAILED,
        0,
        "directory_unavailable",
    )


def test_the_max_age_counts_from_the_first_deferral_not_from_queueing() -> None:
    # Queued, then held overnight for quiet hours: its age does not count against it.
    state = deferred(queued(), NOW + timedelta(hours=9))
    assert state.status is NotificationStatus.PENDING
    assert state.deferred_since == NOW + timedelta(hours=9)


@pytest.mark.parametrize("key", ["appointment_start", "expires_at"])
def test_a_message_with_a_deadline_of_its_own_waits_until_it_and_no_longer(key: str) -> None:
    deadline = NOW + timedelta(days=2)  # later than the max age: the message's own counts
    state = queued(params={key: deadline.isoformat()})
    state = deferred(state, NOW + timedelta(days=1))
    assert state.status is NotificationStatus.PENDING
    assert deferred(state, deadline).status is NotificationStatus.FAILED
    soon = queued(params={key: (NOW + timedelta(minutes=30)).isoformat()})
    assert deferred(soon, NOW + timedelta(minutes=31)).status is NotificationStatus.FAILED


def test_an_attempt_after_deferrals_is_attempt_one() -> None:
    state = deferred(deferred(queued(), NOW), NOW + timedelta(minutes=1))
    sent = attempt(state, DeliveryOutcome.sent(), NOW + timedelta(minutes=2))
    assert (sent.status, sent.attempts) == (NotificationStatus.SENT, 1)


# --- a channel refused for good: the next one, once ---------------------------------------


def test_a_refused_channel_falls_back_once_and_both_attempts_are_recorded() -> None:
    state = queued()
    refused = DeliveryOutcome.permanent("http_400")
    assert rules.ends_it(state, refused, POLICY)
    moved = fold(state, rules.fall_back(state, SMS, refused, EMAIL, NOW))
    assert (moved.status, moved.attempts, moved.channel) == (NotificationStatus.PENDING, 1, EMAIL)
    assert moved.failed_channel is SMS
    sent = attempt(moved, DeliveryOutcome.sent())
    assert (sent.status, sent.attempts, sent.channel) == (NotificationStatus.SENT, 2, EMAIL)
    with pytest.raises(ValueError, match="fell back"):
        rules.fall_back(moved, EMAIL, refused, SMS, NOW)


def test_only_an_outcome_that_would_end_the_message_falls_back() -> None:
    state = queued()
    assert not rules.ends_it(state, DeliveryOutcome.sent(), POLICY)
    assert not rules.ends_it(state, DeliveryOutcome.transient("http_503"), POLICY)
    for n in range(1, POLICY.max_attempts):
        state = attempt(state, DeliveryOutcome.transient("http_503"), NOW + timedelta(minutes=n))
    assert rules.ends_it(state, DeliveryOutcome.transient("http_503"), POLICY)  # the last try


def a_call(call_at: datetime) -> Notification:
    requested = rules.request(
        notification_id=uuid4(),
        recipient_id=uuid4(),
        recipient_kind=RecipientKind.STAFF,
        site_id=uuid4(),
        lane=Lane.CRISIS,
        channel=NotificationChannel.VOICE,
        template=Template.CRISIS_PAGE,
        params={"kind": "page"},
        cause_event_id=uuid4(),
        now=NOW,
        call_at=call_at,
    )
    return fold(None, [requested])


def test_a_pages_call_waits_until_its_call_time_then_goes() -> None:
    later = NOW + timedelta(minutes=2)
    state = a_call(later)
    assert (state.next_attempt_at, state.hold_reason) == (later, HoldReason.CALL_DELAY)
    # Nothing at send time moves it (pages never wait for quiet hours).
    assert rules.hold_if_quiet(state, NIGHT_IN_UTC, ZoneInfo("UTC"), NOW) == []
    expedited = fold(state, rules.expedite(state, NOW, reason="sms_failed"))
    assert (expedited.next_attempt_at, expedited.hold_reason) == (NOW, None)


def test_a_call_whose_time_has_passed_goes_at_once() -> None:
    """A page read late (notify behind crisis) does not wait the delay again."""
    state = a_call(NOW - timedelta(seconds=1))
    assert (state.next_attempt_at, state.hold_reason) == (NOW, None)
