"""The published AsyncAPI document marks as required every `data` field the contract lists
without `?` (CONTRACT.md, "Events" and "Version 2 events"): such a field is always in `data`,
null when there is no value (docs/contract.md, "Absent values in events"). A field the document
called optional showed as `name`? on docs/contract.md, which the contract does not allow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from counseling_shared import events
from counseling_shared.envelope import wrap

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"

_APPOINTMENT = (
    *("appointment_id", "site_id", "client_id", "counselor_id", "room_id"),
    *("start", "end", "modality"),
)
_FOLLOWUP = ("followup_id", "client_id", "site_id", "kind", "due_at")
_ALERT = ("alert_id", "client_id", "site_id", "level", "current_level")
_NOTIFICATION = (
    *("notification_id", "recipient_id", "channel", "template", "cause_event_id"),
    "attempts",
)

# The contract's fields without `?`, event by event (FollowUpDue's `response_url` is only for
# "kinds that ask the client", so it is not here; `counselor_id`? is optional where listed).
CONTRACT_REQUIRED: dict[str, tuple[str, ...]] = {
    "SiteRegistered": ("site_id", "timezone", "locale"),
    "StaffRegistered": ("staff_id", "site_id", "role", "email", "phone", "locale"),
    "ClientRegistered": ("client_id", "site_id", "locale", "timezone", "preferred_channel"),
    "AppointmentBooked": _APPOINTMENT,
    "AppointmentRescheduled": _APPOINTMENT,
    "AppointmentCancelled": (*_APPOINTMENT, "cancelled_by", "late"),
    "SessionCompleted": (
        *("appointment_id", "site_id", "client_id", "counselor_id", "completed_at"),
        *("goal_horizon", "risk_level"),
    ),
    "SessionMissed": ("appointment_id", "site_id", "client_id", "counselor_id", "start"),
    "CareEpisodeClosed": ("client_id", "site_id", "reason", "effective_on", "referred"),
    "RiskFlagged": ("flag_id", "client_id", "site_id", "level", "source", "flagged_at"),
    "FollowUpScheduled": _FOLLOWUP,
    "FollowUpDue": _FOLLOWUP,
    "FollowUpCancelled": _FOLLOWUP,
    "FollowUpCompleted": ("followup_id", "client_id", "site_id", "outcome"),
    "AlertRaised": _ALERT,
    "AlertEscalated": _ALERT,
    "AlertAcknowledged": _ALERT,
    "AlertResolved": _ALERT,
    "AlertExhausted": _ALERT,
    "PageRequested": ("alert_id", "page_id", "staff_id", "site_id", "level", "ack_url"),
    "NotificationSent": _NOTIFICATION,
    "NotificationFailed": _NOTIFICATION,
    "MeasureRecorded": ("client_id", "site_id", "followup_id", "instrument", "score", "band"),
    "CallbackRequested": ("client_id", "site_id", "followup_id"),
    "HoldPlaced": ("hold_id", "site_id", "counselor_id", "start", "end"),
    "HoldReleased": ("hold_id", "site_id", "counselor_id", "start", "end"),
    "WaitlistOfferMade": (
        *("offer_id", "client_id", "site_id", "appointment_start", "accept_url"),
        "expires_at",
    ),
    "ClientContactChanged": ("client_id", "site_id", "preferred_channel", "locale", "timezone"),
    "StaffDeactivated": ("staff_id", "site_id"),
    # "Contact regularity"
    "ContactGapDetected": ("client_id", "site_id", "last_positive_contact_at"),
    "NegativeContactRecorded": ("client_id", "site_id"),
}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = json.loads(ASYNCAPI.read_text())["components"]["schemas"]
    return schemas


@pytest.mark.parametrize("event_type", sorted(CONTRACT_REQUIRED))
def test_the_published_schema_requires_what_the_contract_lists_without_a_question_mark(
    event_type: str,
) -> None:
    schema = _schemas()[event_type]
    loose = set(CONTRACT_REQUIRED[event_type]) - set(schema.get("required", []))
    assert not loose, f"{event_type}: {sorted(loose)} published as optional"


def test_a_field_left_without_a_value_still_travels_in_data_as_null() -> None:
    """What the schema promises holds on the bus (a regression guard: it held before)."""
    site, someone = uuid4(), uuid4()
    left_empty = {
        "phone": events.StaffRegistered(
            staff_id=someone,
            site_id=site,
            name="N",
            role="counselor",
            email="n@example.org",
            locale="en",
        ),
        "ack_url": events.PageRequested(
            alert_id=uuid4(), page_id=uuid4(), staff_id=someone, site_id=site, level=1
        ),
        "last_positive_contact_at": events.ContactGapDetected(client_id=uuid4(), site_id=site),
    }
    for name, event in left_empty.items():
        sent = json.loads(wrap(event, source="test", subject=site).encode())
        assert name in sent["data"], name
        assert sent["data"][name] is None, name
