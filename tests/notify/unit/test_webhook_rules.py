from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notify.domain.webhooks.delivery import (
    AttemptResult,
    DeliveryStatus,
    DisabledReason,
    NextStep,
    WebhookRetryPolicy,
    after_attempt,
)
from notify.domain.webhooks.payload import webhook_body
from notify.domain.webhooks.signing import new_secret, signed_headers, signing_secrets

QUEUED = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = WebhookRetryPolicy(timedelta(seconds=30), timedelta(hours=1), timedelta(hours=24))


def step(
    status: int | None,
    attempt: int = 1,
    now: datetime = QUEUED,
    jitter: float = 0.5,
    first_attempt_at: datetime = QUEUED,
) -> NextStep:
    return after_attempt(
        AttemptResult(status, None if status else "http_timeout"),
        first_attempt_at=first_attempt_at,
        attempt=attempt,
        now=now,
        policy=POLICY,
        jitter=jitter,
    )


def test_a_2xx_delivers() -> None:
    assert step(204).status is DeliveryStatus.DELIVERED


def test_a_410_fails_the_delivery_and_disables_the_subscription() -> None:
    result = step(410)
    assert result.status is DeliveryStatus.FAILED
    assert result.disable_subscription


def test_other_answers_and_timeouts_are_retried_with_growing_jittered_back_off() -> None:
    for status in (500, 429, 404, None):
        assert step(status).status is DeliveryStatus.PENDING
    first = step(500, 1, jitter=0.0).next_attempt_at
    assert first == QUEUED + timedelta(seconds=15)  # half fixed, half jitter
    retry_at = step(500, 1, jitter=0.999).next_attempt_at
    assert retry_at is not None
    assert retry_at < QUEUED + timedelta(seconds=30)
    assert step(500, 4, jitter=0.0).next_attempt_at == QUEUED + timedelta(seconds=120)
    assert step(500, 30, jitter=1.0).next_attempt_at == QUEUED + timedelta(hours=1)


def test_retries_stop_once_the_next_attempt_would_fall_outside_24_hours() -> None:
    late = QUEUED + timedelta(hours=23, minutes=50)
    assert step(500, 20, now=late, jitter=0.0).status is DeliveryStatus.FAILED
    assert step(500, 20, now=QUEUED + timedelta(hours=23), jitter=0.0).status is (
        DeliveryStatus.PENDING
    )


def test_the_24_hours_count_from_the_first_attempt_not_from_queueing() -> None:
    """A delivery that waited 23 h 55 min behind a failing head still gets its own 24 h once
    its turn comes: its first attempt failing is retried, not the end of it."""
    turn = QUEUED + timedelta(hours=23, minutes=55)
    first = step(503, 1, now=turn, jitter=0.0, first_attempt_at=turn)
    assert first.status is DeliveryStatus.PENDING
    assert first.next_attempt_at == turn + timedelta(seconds=15)
    late = turn + timedelta(hours=23, minutes=50)
    assert step(503, 20, now=late, jitter=0.0, first_attempt_at=turn).status is (
        DeliveryStatus.FAILED
    )


def test_a_receiver_failing_every_attempt_for_five_days_is_disabled_with_its_queue_kept() -> None:
    policy = WebhookRetryPolicy(
        timedelta(seconds=30), timedelta(hours=1), timedelta(hours=24), timedelta(days=5)
    )
    turn = QUEUED + timedelta(days=5)

    def failed(failing_since: datetime | None, first: datetime = turn) -> NextStep:
        return after_attempt(
            AttemptResult(503),
            first_attempt_at=first,
            attempt=1,
            now=turn,
            policy=policy,
            jitter=0.0,
            failing_since=failing_since,
        )

    assert failed(None).disable is None  # this failure starts the streak
    assert failed(turn - timedelta(days=4, hours=23)).disable is None
    five_days = failed(QUEUED)
    assert five_days.disable is DisabledReason.RECEIVER_FAILING
    # The delivery tried keeps its own retry window; the subscription just stops for now.
    assert (five_days.status, five_days.next_attempt_at) == (
        DeliveryStatus.PENDING,
        turn + timedelta(seconds=15),
    )
    assert failed(QUEUED, first=QUEUED).status is DeliveryStatus.FAILED
    assert step(410).disable is DisabledReason.RECEIVER_GONE
    assert step(503).disable is None  # without `disable_after`, never


def test_the_body_is_the_cloud_event_without_personal_signed_links() -> None:
    event = {
        "id": "e1",
        "type": "PageRequested",
        "data": {"page_id": "p1", "ack_url": "https://crisis/x?token=secret"},
    }
    body = webhook_body(event)
    assert "token" not in body
    assert '"page_id":"p1"' in body
    assert '"type":"PageRequested"' in body


def test_a_reminders_and_a_bookings_manage_link_never_reach_a_webhook() -> None:
    for kind in ("FollowUpDue", "AppointmentBooked"):
        event = {
            "id": "e2",
            "type": kind,
            "data": {"appointment_id": "a1", "manage_url": "https://booking/m?token=secret"},
        }
        body = webhook_body(event)
        assert "token" not in body
        assert '"appointment_id":"a1"' in body


def test_a_rotated_out_secret_signs_beside_the_new_one_until_its_overlap_ends() -> None:
    ends = QUEUED + timedelta(hours=24)
    before, at_end = ends - timedelta(seconds=1), ends
    assert signing_secrets("whsec_new", "whsec_old", ends, before) == ("whsec_new", "whsec_old")
    assert signing_secrets("whsec_new", "whsec_old", ends, at_end) == ("whsec_new",)
    assert signing_secrets("whsec_new", None, None, before) == ("whsec_new",)


def test_two_signatures_are_space_separated_and_each_verifies_with_its_own_secret() -> None:
    new, old, body = new_secret(), new_secret(), b'{"id":"x"}'
    headers = signed_headers(new, "msg_1", datetime.now(UTC), body, also_with=[old])
    assert [s[:3] for s in headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]
    for secret in (new, old):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
