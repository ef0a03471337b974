"""The event catalog holds every event of CONTRACT.md's Events table, with its data fields."""

from uuid import uuid4

import pytest

from counseling_shared import events
from counseling_shared.envelope import REGISTRY
from counseling_shared.jetstream import STREAMS
from counseling_shared.outbox import stream_for

_APPOINTMENT = (
    "appointment_id",
    "site_id",
    "client_id",
    "counselor_id",
    "room_id",
    "start",
    "end",
    "modality",
)
_FOLLOWUP = ("followup_id", "client_id", "site_id", "kind", "due_at")
_ALERT = ("alert_id", "client_id", "site_id", "level", "current_level")
_NOTIFICATION = (
    "notification_id",
    "recipient_id",
    "channel",
    "template",
    "cause_event_id",
    "attempts",
)

# Written out from docs/contract.md ("Events"): (producing contexts, type) -> data fields.
CONTRACT_EVENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "SiteRegistered": (("booking",), ("site_id", "timezone", "locale")),
    "StaffRegistered": (
        ("booking",),
        ("staff_id", "site_id", "role", "email", "phone", "locale"),
    ),
    "ClientRegistered": (
        ("booking",),
        ("client_id", "site_id", "locale", "timezone", "preferred_channel"),
    ),
    # contract v2 ("Version 2 events")
    "ClientContactChanged": (
        ("booking",),
        ("client_id", "site_id", "preferred_channel", "locale", "timezone"),
    ),
    "StaffDeactivated": (("booking",), ("staff_id", "site_id")),
    "AppointmentBooked": (("booking",), _APPOINTMENT),
    "AppointmentRescheduled": (("booking",), _APPOINTMENT),
    "AppointmentCancelled": (("booking",), (*_APPOINTMENT, "cancelled_by", "late")),
    "SessionCompleted": (
        ("booking",),
        (
            "appointment_id",
            "site_id",
            "client_id",
            "counselor_id",
            "completed_at",
            "goal_horizon",
            "risk_level",
        ),
    ),
    "SessionMissed": (
        ("booking",),
        ("appointment_id", "site_id", "client_id", "counselor_id", "start"),
    ),
    "CareEpisodeClosed": (
        ("booking",),
        ("client_id", "site_id", "reason", "effective_on", "referred"),
    ),
    "RiskFlagged": (
        ("booking", "followup", "crisis"),
        ("flag_id", "client_id", "site_id", "level", "source", "flagged_at"),
    ),
    "FollowUpScheduled": (("followup",), _FOLLOWUP),
    "FollowUpDue": (("followup",), (*_FOLLOWUP, "response_url")),
    "FollowUpCancelled": (("followup",), _FOLLOWUP),
    "FollowUpCompleted": (("followup",), ("followup_id", "client_id", "site_id", "outcome")),
    "ContactGapDetected": (
        ("followup",),
        ("client_id", "site_id", "counselor_id", "last_positive_contact_at"),
    ),
    "NegativeContactRecorded": (("followup",), ("client_id", "site_id", "counselor_id")),
    "MeasureRecorded": (
        ("followup",),
        ("client_id", "site_id", "followup_id", "instrument", "score", "band"),
    ),
    "CallbackRequested": (("followup",), ("client_id", "site_id", "counselor_id", "followup_id")),
    "AlertRaised": (("crisis",), _ALERT),
    "AlertEscalated": (("crisis",), _ALERT),
    "AlertAcknowledged": (("crisis",), _ALERT),
    "AlertResolved": (("crisis",), _ALERT),
    "PageRequested": (("crisis",), ("alert_id", "page_id", "staff_id", "site_id", "level")),
    "NotificationSent": (("notify",), _NOTIFICATION),
    "NotificationFailed": (("notify",), _NOTIFICATION),
}

# Free text about a client or a client's contact details must never travel on the bus.
_CLIENT_PRIVATE = {"goals", "notes", "next_steps", "progress", "client_name", "referral"}


@pytest.mark.parametrize("event_type", sorted(CONTRACT_EVENTS))
def test_every_contract_event_is_in_the_catalog_with_its_data_fields(event_type: str) -> None:
    cls = getattr(events, event_type, None)
    assert cls is not None, f"events.{event_type} is missing"
    assert cls.event_type == event_type
    _, fields = CONTRACT_EVENTS[event_type]
    missing = set(fields) - set(cls.model_fields)
    assert not missing, f"{event_type} lacks {sorted(missing)}"


@pytest.mark.parametrize("event_type", sorted(CONTRACT_EVENTS))
def test_the_registry_decodes_every_contract_event_type(event_type: str) -> None:
    assert REGISTRY.event_class(event_type) is getattr(events, event_type)


@pytest.mark.parametrize(
    ("context", "event_type"),
    [(ctx, t) for t, (contexts, _) in sorted(CONTRACT_EVENTS.items()) for ctx in contexts],
)
def test_every_produced_event_lands_in_its_contexts_stream(context: str, event_type: str) -> None:
    # A subject no stream captures gets "no responders" from JetStream: the relay would stall.
    stream = next(s for s in STREAMS if s.name == stream_for(context))
    subject = f"{context}.{uuid4()}.{event_type}"
    assert any(_matches(pattern, subject) for pattern in stream.subjects), (
        f"{subject} is not captured by stream {stream.name} {stream.subjects}"
    )


def test_booking_stream_leaves_the_contact_directory_to_request_reply() -> None:
    booking = next(s for s in STREAMS if s.name == "BOOKING")
    for subject in ("booking.directory.contact", "booking.directory.contacts"):
        assert not any(_matches(p, subject) for p in booking.subjects)


def test_no_event_carries_client_free_text_or_client_contact_details() -> None:
    for event_type in REGISTRY.event_types:
        fields = set(REGISTRY.event_class(event_type).model_fields)
        assert not fields & _CLIENT_PRIVATE, event_type
        # Staff contacts travel so paging works while booking is down; a site's name is public.
        if event_type != "StaffRegistered":
            assert not fields & {"email", "phone"}, event_type
        if event_type not in ("StaffRegistered", "SiteRegistered"):
            assert "name" not in fields, event_type


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a trailing `>` one or more."""
    want, got = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(got) > i
        if i >= len(got) or part not in ("*", got[i]):
            return False
    return len(got) == len(want)
