"""The CloudEvents envelope: wrap → encode → decode, and every way decoding can fail."""

import json
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import GoalHorizon, RiskLevel
from counseling_shared.envelope import (
    REGISTRY,
    Envelope,
    EventRegistry,
    MalformedEvent,
    UnknownEventType,
    UnsupportedSchemaVersion,
    decode,
    wrap,
)
from counseling_shared.events import (
    ClosedSpan,
    FeeDue,
    GroupSeriesSeat,
    IntegrationEvent,
    SeriesOccurrence,
    SessionCompleted,
    SkippedOccurrence,
)
from counseling_shared.unit_of_work import UnitOfWork

CLOUDEVENTS_ATTRIBUTES = {
    "specversion",
    "id",
    "type",
    "source",
    "subject",
    "time",
    "datacontenttype",
    "siteid",
    "correlationid",
    "causationid",
    "dataschemaversion",
}


def session_completed(site_id: UUID | None = None) -> SessionCompleted:
    return SessionCompleted(
        appointment_id=uuid4(),
        site_id=site_id or uuid4(),
        client_id=uuid4(),
        counselor_id=uuid4(),
        completed_at=datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=9))),
        goal_horizon=GoalHorizon.LONG_TERM,
        risk_level=RiskLevel.MODERATE,
    )


def test_wrap_encode_decode_round_trips_envelope_and_event() -> None:
    event = session_completed()
    envelope = wrap(event, source="booking", subject=event.appointment_id)

    decoded, parsed = REGISTRY.decode(envelope.encode())

    assert decoded == envelope
    assert parsed == event
    assert type(parsed) is SessionCompleted


def test_a_caused_event_carries_every_cloudevents_attribute() -> None:
    cause = wrap(session_completed(), source="booking", subject="a")
    uow = UnitOfWork(
        conn=None,  # type: ignore[arg-type]  # publish does not touch the database
        source="followup",
        clock=ControllableClock(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        cause=cause,
    )
    event = session_completed(site_id=cause.siteid)

    envelope = uow.publish(event, subject="followup-1")
    attributes = json.loads(envelope.encode())

    assert set(attributes) == CLOUDEVENTS_ATTRIBUTES | {"data"}
    assert attributes["specversion"] == "1.0"
    assert attributes["datacontenttype"] == "application/json"
    assert attributes["type"] == "SessionCompleted"
    assert attributes["source"] == "followup"
    assert attributes["subject"] == "followup-1"
    assert attributes["siteid"] == str(event.site_id)
    assert attributes["correlationid"] == str(cause.correlationid)
    assert attributes["causationid"] == str(cause.id)
    assert attributes["dataschemaversion"] == 1
    assert datetime.fromisoformat(attributes["time"]) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert UUID(attributes["id"]) != cause.id
    assert envelope.nats_subject == f"followup.{event.site_id}.SessionCompleted"


def test_a_new_flow_starts_its_own_correlation_id() -> None:
    envelope = wrap(session_completed(), source="booking", subject="a")

    assert envelope.correlationid == envelope.id
    assert envelope.causationid is None


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad",
        b"",
        b"[]",
        b"\xff\xfe not utf-8",
        b'{"specversion": "1.0"}',
        b'{"specversion": "0.3", "id": "x"}',
    ],
)
def test_malformed_bytes_are_a_malformed_event(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(raw)
    with pytest.raises(MalformedEvent):
        REGISTRY.decode(raw)


def test_data_that_does_not_fit_its_type_is_a_malformed_event() -> None:
    envelope = wrap(session_completed(), source="booking", subject="a")
    broken = envelope.model_copy(update={"data": {**envelope.data, "risk_level": "apocalyptic"}})

    with pytest.raises(MalformedEvent) as raised:
        REGISTRY.decode(broken.encode())
    assert raised.value.reason == "malformed"


def test_an_unknown_type_is_reported_as_unknown() -> None:
    envelope = wrap(session_completed(), source="booking", subject="a")
    unknown = envelope.model_copy(update={"type": "SessionTeleported"})

    with pytest.raises(UnknownEventType) as raised:
        REGISTRY.decode(unknown.encode())
    assert raised.value.reason == "unknown_type"


def test_a_newer_schema_version_is_unsupported() -> None:
    envelope = wrap(session_completed(), source="booking", subject="a")
    newer = envelope.model_copy(update={"dataschemaversion": 2})

    with pytest.raises(UnsupportedSchemaVersion) as raised:
        REGISTRY.decode(newer.encode())
    assert raised.value.reason == "unsupported_version"


class SessionRated(IntegrationEvent):
    """Version 2 replaced v1's 1-5 `stars` with a percentage."""

    schema_version: ClassVar[int] = 2

    appointment_id: UUID
    site_id: UUID
    score_percent: int


def _stars_to_percent(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = {k: v for k, v in data.items() if k != "stars"}
    upgraded["score_percent"] = data["stars"] * 20
    return upgraded


def _v1_session_rated(stars: int) -> Envelope:
    site_id, appointment_id = uuid4(), uuid4()
    return Envelope(
        id=uuid4(),
        type="SessionRated",
        source="followup",
        subject=str(appointment_id),
        time=datetime.now(UTC),
        siteid=site_id,
        correlationid=uuid4(),
        dataschemaversion=1,
        data={"appointment_id": str(appointment_id), "site_id": str(site_id), "stars": stars},
    )


def test_an_upcaster_turns_a_v1_event_into_the_current_v2() -> None:
    registry = EventRegistry([SessionRated])
    registry.register_upcaster("SessionRated", 1, _stars_to_percent)
    old = _v1_session_rated(stars=4)

    _, event = registry.decode(old.encode())

    assert isinstance(event, SessionRated)
    assert event.score_percent == 80
    assert str(event.appointment_id) == old.data["appointment_id"]


def test_an_old_version_without_an_upcaster_is_unsupported() -> None:
    registry = EventRegistry([SessionRated])

    with pytest.raises(UnsupportedSchemaVersion):
        registry.decode(_v1_session_rated(stars=4).encode())


def test_the_shared_registry_is_not_touched_by_a_test_registry() -> None:
    with pytest.raises(UnknownEventType):
        REGISTRY.event_class("SessionRated")


# --- hypothesis: any catalog event survives the wire ----------------------------------------

_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_OFFSETS
)


def _values(annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_values(a) for a in typing.get_args(annotation)))
    if annotation is type(None):
        return st.none()
    if origin is list:
        return st.lists(_values(typing.get_args(annotation)[0]), max_size=4)
    if annotation is SeriesOccurrence:
        return st.builds(
            SeriesOccurrence, appointment_id=st.uuids(), start=_INSTANTS, end=_INSTANTS
        )
    if annotation is GroupSeriesSeat:
        return st.builds(
            GroupSeriesSeat,
            appointment_id=st.uuids(),
            group_session_id=st.uuids(),
            start=_INSTANTS,
            end=_INSTANTS,
        )
    if annotation is SkippedOccurrence:
        return st.builds(
            SkippedOccurrence,
            start=_INSTANTS,
            reason=st.just("site_closed"),
            closed_on=_values(date),
            closure_kind=st.sampled_from(["public_holiday", "training", "closure"]),
        )
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if annotation is ClosedSpan:  # `from` on the wire, `from_` in Python
        return st.builds(
            ClosedSpan,
            from_=_values(date),
            to=_values(date),
            kind=st.sampled_from(["public_holiday", "training", "closure"]),
        )
    if annotation is FeeDue:
        return st.builds(
            FeeDue,
            amount=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
            currency=st.sampled_from(["EUR", "KRW", "USD"]),
        )
    simple: dict[Any, st.SearchStrategy[Any]] = {
        UUID: st.uuids(),
        str: st.text(max_size=40),
        bool: st.booleans(),
        int: st.integers(0, 1000),
        datetime: _INSTANTS,
        AwareDatetime: _INSTANTS,
        date: st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
        timedelta: st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
        FeeDue: st.builds(
            FeeDue,
            amount=st.decimals(min_value=0, max_value=100_000, places=2),
            currency=st.sampled_from(["EUR", "KRW", "USD"]),
        ),
    }
    # An annotation this does not know fails here, so a new field type is noticed.
    return simple[annotation]


def _events_of(cls: type[IntegrationEvent]) -> st.SearchStrategy[IntegrationEvent]:
    fields = {name: _values(info.annotation) for name, info in cls.model_fields.items()}
    return st.fixed_dictionaries(fields).map(lambda data: cls(**data))


_CATALOG_EVENTS = st.sampled_from(REGISTRY.event_types).flatmap(
    lambda t: _events_of(REGISTRY.event_class(t))
)


@given(event=_CATALOG_EVENTS, source=st.sampled_from(["booking", "followup", "crisis", "notify"]))
def test_any_catalog_event_round_trips_through_the_wire(
    event: IntegrationEvent, source: str
) -> None:
    cause = wrap(event, source=source, subject="cause")
    envelope = wrap(
        event,
        source=source,
        subject=uuid4(),
        correlation_id=cause.correlationid,
        causation_id=cause.id,
    )

    decoded, parsed = REGISTRY.decode(envelope.encode())

    assert decoded == envelope
    assert parsed == event
    assert type(parsed) is type(event)
    assert set(json.loads(envelope.encode())) == CLOUDEVENTS_ATTRIBUTES | {"data"}
