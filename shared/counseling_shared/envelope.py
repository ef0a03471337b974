"""CloudEvents 1.0 structured-mode envelope and the registry that decodes it.

`decode` turns bytes into an `Envelope`; `EventRegistry.parse` turns an envelope into the typed
event of the catalog, upcasting older schema versions. Every failure is a typed `EventDecodeError`
so consumers can dead-letter it with a reason instead of crashing.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from counseling_shared import events as catalog
from counseling_shared.events import IntegrationEvent

E = TypeVar("E", bound=IntegrationEvent)
JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]


class EventDecodeError(Exception):
    """A message that cannot become a catalog event. `reason` is a short machine-readable code."""

    reason = "malformed"


class MalformedEvent(EventDecodeError):
    reason = "malformed"


class UnknownEventType(EventDecodeError):
    reason = "unknown_type"


class UnsupportedSchemaVersion(EventDecodeError):
    reason = "unsupported_version"


class Envelope(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode, with this suite's extensions."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    type: str
    source: str
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    siteid: UUID
    correlationid: UUID
    causationid: UUID | None = None
    dataschemaversion: int = Field(ge=1)
    data: JsonObject

    @property
    def nats_subject(self) -> str:
        return subject_for(self.source, self.siteid, self.type)

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def subject_for(context: str, site_id: UUID | str, event_type: str) -> str:
    """`<context>.<site_id>.<EventType>` (docs/architecture.md, Subjects and streams)."""
    return f"{context}.{site_id}.{event_type}"


def wrap(
    event: IntegrationEvent,
    *,
    source: str,
    subject: UUID | str,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    time: datetime | None = None,
    event_id: UUID | None = None,
    actor: str | None = None,
) -> Envelope:
    """Put a catalog event in an envelope. A new flow starts its own correlation id.
    `actor` (`<kind>:<id>`, extension attribute) names who caused it, when a person or key did."""
    new_id = event_id or uuid4()
    site_id = getattr(event, "site_id")  # noqa: B009 - every catalog event has one
    extensions = {"actor": actor} if actor else {}
    return Envelope(
        **extensions,
        id=new_id,
        type=event.event_type,
        source=source,
        subject=str(subject),
        time=time or datetime.now(UTC),
        siteid=site_id,
        correlationid=correlation_id or new_id,
        causationid=causation_id,
        dataschemaversion=event.schema_version,
        data=event.model_dump(mode="json"),
    )


def decode(raw: bytes) -> Envelope:
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise MalformedEvent(_first_error(exc)) from None


class EventRegistry:
    """Maps CloudEvents types to catalog classes, with upcasters for older schema versions."""

    def __init__(self, event_classes: Iterable[type[IntegrationEvent]]) -> None:
        self._classes = {cls.event_type: cls for cls in event_classes}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register_upcaster(self, event_type: str, from_version: int, upcast: Upcaster) -> None:
        """`upcast` turns `data` of `from_version` into `from_version + 1`."""
        self._upcasters[(event_type, from_version)] = upcast

    def event_class(self, event_type: str) -> type[IntegrationEvent]:
        try:
            return self._classes[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    @property
    def event_types(self) -> list[str]:
        return sorted(self._classes)

    def parse(self, envelope: Envelope) -> IntegrationEvent:
        cls = self.event_class(envelope.type)
        data, version = envelope.data, envelope.dataschemaversion
        if version > cls.schema_version:
            raise UnsupportedSchemaVersion(
                f"{envelope.type} schema version {version} is newer than {cls.schema_version}"
            )
        while version < cls.schema_version:
            upcast = self._upcasters.get((envelope.type, version))
            if upcast is None:
                raise UnsupportedSchemaVersion(
                    f"no upcaster for {envelope.type} from schema version {version}"
                )
            data, version = upcast(data), version + 1
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MalformedEvent(f"{envelope.type}: {_first_error(exc)}") from None

    def decode(self, raw: bytes) -> tuple[Envelope, IntegrationEvent]:
        envelope = decode(raw)
        return envelope, self.parse(envelope)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def _catalog_classes() -> list[type[IntegrationEvent]]:
    found: list[type[IntegrationEvent]] = []
    pending = list(IntegrationEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == catalog.__name__]


REGISTRY = EventRegistry(_catalog_classes())
"""The registry of every event in contract v1."""
