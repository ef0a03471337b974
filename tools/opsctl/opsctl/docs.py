"""The published API documents, generated from the code (`counselctl docs generate`).

- `docs/openapi/<service>.json`: each service's OpenAPI document, from its bootstrap's
  `create_app(definition())` (built, never started).
- `docs/asyncapi.json`: the events, from a FastStream `NatsBroker` with one publisher per
  (context, event type) on `<context>.{site_id}.<Type>` whose message is the catalog's model.
- the generated tables of `docs/contract.md` (see `opsctl.contract`), from those documents.

`python -m opsctl.docs [--check]` does the same as `counselctl docs generate [--check]`.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from counseling_shared.envelope import REGISTRY
from counseling_shared.jetstream import BOOKING_EVENT_TYPES, CRISIS_EVENT_TYPES
from counseling_shared.service import create_app
from counseling_shared.settings import ServiceSettings
from opsctl.config import Service
from opsctl.contract import filled, generated_sections

CONTRACT_PAGE = "contract.md"

REGENERATE = "make docs  (or: counselctl docs generate)"
CONTRACT_VERSION = "1.0.0"

# Which context publishes which catalog event (docs/contract.md, "Events"). booking's list is the
# one its stream is declared with, so the two cannot disagree; crisis's too.
PUBLISHED_BY: Mapping[str, tuple[str, ...]] = {
    "booking": tuple(BOOKING_EVENT_TYPES),
    "followup": (
        "FollowUpScheduled",
        "FollowUpDue",
        "FollowUpCancelled",
        "FollowUpCompleted",
        "RiskFlagged",
        "ContactGapDetected",
        "NegativeContactRecorded",
        "MeasureRecorded",
        "CallbackRequested",
    ),
    "crisis": tuple(CRISIS_EVENT_TYPES),
    "notify": ("NotificationSent", "NotificationFailed"),
}

EVENTS_DESCRIPTION = """\
The integration events of the counseling-center suite (contract v1).

Each message is a CloudEvents 1.0 event in structured JSON mode. The payload schema shown for a \
channel is its `data`; the envelope around it carries `specversion` ("1.0"), `id` (UUID), `type` \
(the event type), `source` (the publishing context), `subject` (the aggregate id), `time`, \
`datacontenttype` ("application/json"), and the extensions `siteid`, `correlationid`, \
`causationid` and `dataschemaversion` (an integer; a consumer dead-letters a newer version it \
does not know).

Subjects are `<context>.<site_id>.<EventType>`; each context's events are kept in its own \
JetStream stream (BOOKING, FOLLOWUP, NOTIFY, CRISIS; file storage, 2-minute duplicate window). \
NATS headers carry `Nats-Msg-Id` (the event id, for deduplication) and W3C `traceparent`.

Only identifiers and coded values travel on the bus: no client name, contact detail, goal, note \
or other free text about a client.
"""

SITE_PARAMETER = {"description": "The id (UUID) of the site the event belongs to."}


def openapi_document(service: Service) -> dict[str, Any]:
    """The service's OpenAPI document, as `GET /openapi.json` serves it."""
    bootstrap = importlib.import_module(f"{service.value}.bootstrap")
    document: dict[str, Any] = create_app(bootstrap.definition()).openapi()
    return document


def events_broker() -> NatsBroker:
    """A broker that is never connected: it only describes what each context publishes."""
    default_nats: str = ServiceSettings.model_fields["nats_url"].default
    broker = NatsBroker(default_nats, description="The suite's NATS with JetStream (NATS_URL).")
    for context, event_types in PUBLISHED_BY.items():
        for event_type in event_types:
            event = REGISTRY.event_class(event_type)
            summary = " ".join((event.__doc__ or event_type).split())
            broker.publisher(
                f"{context}.{{site_id}}.{event_type}",
                title=f"{context}.{event_type}",
                description=f"{summary} Published by {context} to stream {context.upper()}; "
                f"`data` schema version {event.schema_version}.",
                schema=event,
            )
    return broker


def asyncapi_document() -> dict[str, Any]:
    specification = AsyncAPI(
        events_broker(),
        title="Counseling suite events",
        version=CONTRACT_VERSION,
        description=EVENTS_DESCRIPTION,
        schema_version="3.0.0",
    ).to_specification()
    document: dict[str, Any] = json.loads(specification.to_json())
    for channel in document["channels"].values():
        # AsyncAPI 3 wants each `{variable}` of an address described.
        channel["parameters"] = {"site_id": SITE_PARAMETER}
    for message in document["components"]["messages"].values():
        # FastStream points at a `correlation_id` header we never set; ours is in the envelope.
        message.pop("correlationId", None)
    # FastStream's order follows a hash: sort, so the committed document only changes with code.
    for section in (document, document["components"]):
        for name in ("channels", "operations", "messages", "schemas"):
            if name in section:
                section[name] = dict(sorted(section[name].items()))
    return document


def rendered(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Every published document: its path under `docs/` and its text."""
    found = {f"openapi/{s.value}.json": rendered(openapi_document(s)) for s in Service}
    found["asyncapi.json"] = rendered(asyncapi_document())
    return found


def default_docs_dir() -> Path:
    """The source tree's `docs/` (opsctl is installed editable), else `./docs`."""
    root = Path(__file__).resolve().parents[3]
    return root / "docs" if (root / "pyproject.toml").is_file() else Path("docs")


def contract_page(docs_dir: Path, generated: Mapping[str, str]) -> str:
    """`docs/contract.md` with its generated tables as the documents give them."""
    openapi = {s.value: json.loads(generated[f"openapi/{s.value}.json"]) for s in Service}
    sections = generated_sections(openapi, json.loads(generated["asyncapi.json"]))
    return filled((docs_dir / CONTRACT_PAGE).read_text(encoding="utf-8"), sections)


def with_contract(docs_dir: Path, generated: dict[str, str]) -> dict[str, str]:
    if (docs_dir / CONTRACT_PAGE).is_file():
        generated[CONTRACT_PAGE] = contract_page(docs_dir, generated)
    return generated


def write_documents(docs_dir: Path) -> list[Path]:
    written = []
    for name, text in with_contract(docs_dir, documents()).items():
        path = docs_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(docs_dir: Path) -> list[str]:
    """Documents whose committed text differs from what the code generates (or are missing)."""
    stale = []
    for name, text in with_contract(docs_dir, documents()).items():
        path = docs_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    docs_dir = default_docs_dir()
    if args == ["--check"]:
        stale = drifted(docs_dir)
        for name in stale:
            print(f"out of date: docs/{name}; regenerate with: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    if args:
        print("usage: python -m opsctl.docs [--check]", file=sys.stderr)
        return 2
    for path in write_documents(docs_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
