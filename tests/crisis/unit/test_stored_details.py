"""A rebuild takes the timeline's details from each event's stored JSON: for every kind of
event, the same details the write path writes from the event itself."""

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from counseling_shared.codes import AlertOutcome, AlertReopenReason, RiskLevel, RiskSource
from crisis.adapters.alerts import _jsonable, stored_details, stored_details_json
from crisis.adapters.codec import to_stored
from crisis.domain.policy import EscalationPolicy, PolicyLevel
from crisis.domain.timeline import (
    EVENT_TYPES,
    Acknowledged,
    AlertEvent,
    CallEnded,
    ChainRepeated,
    Escalated,
    EscalatedByStaff,
    Exhausted,
    FlagReceived,
    LevelRaised,
    LevelSkipped,
    NoPolicy,
    OnCallResolved,
    Opened,
    PageFailed,
    PageRequested,
    PageSent,
    PageSkipped,
    PolicyAdopted,
    Reopened,
    Resolved,
    RoundRobinTurn,
    timeline_details,
)

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
POLICY = EscalationPolicy(
    (
        PolicyLevel((uuid4(),), timedelta(minutes=5)),
        PolicyLevel((uuid4(), uuid4()), timedelta(minutes=10), (uuid4(),)),
        PolicyLevel((uuid4(), uuid4()), timedelta(minutes=2), round_robin=True),
    ),
    2,
    (uuid4(),),
)
EVENTS: list[AlertEvent] = [
    FlagReceived(uuid4(), RiskLevel.HIGH, RiskSource.INTEGRATION, AT),
    Opened(uuid4(), uuid4(), uuid4(), RiskLevel.IMMINENT, POLICY, AT),
    Opened(uuid4(), uuid4(), uuid4(), RiskLevel.MODERATE, None, AT),
    NoPolicy(AT),
    PolicyAdopted(POLICY, AT),
    LevelRaised(uuid4(), RiskLevel.MODERATE, RiskLevel.IMMINENT, AT),
    PageRequested(uuid4(), uuid4(), 2, 1, uuid4(), AT),
    PageRequested(uuid4(), uuid4(), 1, 0, None, AT),
    OnCallResolved(1, 0, uuid4(), (uuid4(), uuid4()), AT),
    LevelSkipped(2, 1, AT),
    PageSkipped(uuid4(), 1, 0, "staff_deactivated", AT),
    PageSent(uuid4(), uuid4(), uuid4(), "sms", AT),
    PageFailed(uuid4(), uuid4(), uuid4(), "email", 5, AT),
    CallEnded(uuid4(), uuid4(), "no_answer", "", AT),
    CallEnded(uuid4(), uuid4(), "completed", "machine", AT),
    Escalated(2, 0, AT),
    EscalatedByStaff(uuid4(), 1, 0, AT),
    ChainRepeated(1, AT),
    Acknowledged(uuid4(), 2, AT),
    Resolved(uuid4(), AlertOutcome.REFERRED_HOSPITAL, AT),
    Exhausted(2, 1, AT),
    Reopened(uuid4(), AlertReopenReason.RISK_RAISED, 2, 1, AT),
    RoundRobinTurn(3, 0, uuid4(), 7, 2, uuid4(), AT),
    RoundRobinTurn(3, 1, uuid4(), 1, 2, None, AT),
    RoundRobinTurn(3, 1, uuid4(), 4, 3, uuid4(), AT, True, (uuid4(),), uuid4(), (uuid4(),)),
]


def test_every_kind_of_event_is_covered() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES)


def test_details_from_the_stored_json_equal_the_write_paths() -> None:
    for event in EVENTS:
        data = to_stored(event, written_at=AT).data
        assert stored_details(event, data) == _jsonable(timeline_details(event)), event


def test_a_value_the_stored_json_lacks_is_computed() -> None:
    """An event stored before one of its fields existed (decoded with the field's default)."""
    event = Escalated(2, 0, AT)
    assert stored_details(event, {"at": AT.isoformat()}) == {"level": 2, "cycle": 0}


def test_the_details_text_is_the_json_the_write_path_sends() -> None:
    """The rebuild's text (pydantic-core's encoder) holds the values json.dumps's does (what
    the `::jsonb` cast compares: spacing and escapes do not matter)."""
    for event in EVENTS:
        data = to_stored(event, written_at=AT).data
        text = stored_details_json(event, data)
        assert json.loads(text) == json.loads(json.dumps(_jsonable(timeline_details(event))))
