"""The published OpenAPI and AsyncAPI documents are generated from the code and committed;
they must not drift from it."""

import json
from typing import Any

import pytest

from counseling_shared.envelope import REGISTRY
from opsctl.docs import (
    CONTRACT_PAGE,
    PUBLISHED_BY,
    REGENERATE,
    contract_page,
    default_docs_dir,
    documents,
)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return documents()


def test_the_committed_documents_match_the_code(generated: dict[str, str]) -> None:
    docs_dir = default_docs_dir()
    stale = [
        name
        for name, text in generated.items()
        if not (docs_dir / name).is_file() or (docs_dir / name).read_text("utf-8") != text
    ]

    assert not stale, (
        f"docs/{', docs/'.join(stale)} no longer match the code. Regenerate with: {REGENERATE}"
    )


def test_every_catalog_event_has_a_channel_on_its_subject(generated: dict[str, str]) -> None:
    asyncapi: dict[str, Any] = json.loads(generated["asyncapi.json"])
    channels = asyncapi["channels"]

    published = {name.split(".", 1)[1] for name in channels}
    assert published == set(REGISTRY.event_types)
    for context, event_types in PUBLISHED_BY.items():
        for event_type in event_types:
            channel = channels[f"{context}.{event_type}"]
            assert channel["address"] == f"{context}.{{site_id}}.{event_type}"
            assert "site_id" in channel["parameters"]
            assert channel["description"]
            message = channel["messages"]["Message"]["$ref"].rsplit("/", 1)[1]
            payload = asyncapi["components"]["messages"][message]["payload"]["$ref"]
            schema = asyncapi["components"]["schemas"][payload.rsplit("/", 1)[1]]
            model = REGISTRY.event_class(event_type)
            assert set(schema["properties"]) == set(model.model_fields), event_type


def test_risk_flags_are_documented_for_each_context_that_raises_them(
    generated: dict[str, str],
) -> None:
    channels = json.loads(generated["asyncapi.json"])["channels"]

    assert {n for n in channels if n.endswith(".RiskFlagged")} == {
        "booking.RiskFlagged",
        "followup.RiskFlagged",
        "crisis.RiskFlagged",
    }


def test_the_shift_swap_events_are_documented_as_crisis_events(
    generated: dict[str, str],
) -> None:
    channels = json.loads(generated["asyncapi.json"])["channels"]

    assert {n for n in channels if ".ShiftSwap" in n} == {
        "crisis.ShiftSwapRequested",
        "crisis.ShiftSwapTaken",
        "crisis.ShiftSwapCancelled",
        "crisis.ShiftSwapExpired",
    }


@pytest.mark.parametrize(
    ("service", "path", "method"),
    [
        ("booking", "/appointments/{appointment_id}/reschedule", "post"),
        ("booking", "/group-sessions", "post"),
        ("booking", "/group-sessions/{group_session_id}/seats", "post"),
        ("booking", "/group-sessions/{group_session_id}/waitlist", "post"),
        ("booking", "/group-sessions/{group_session_id}/capacity", "post"),
        ("booking", "/group-session-series", "post"),
        ("booking", "/group-session-series/{group_series_id}/seats", "post"),
        ("booking", "/group-session-series/{group_series_id}/cancel", "post"),
        ("booking", "/group-session-series/{group_series_id}/seats/{client_id}/cancel", "post"),
        ("booking", "/clients/{client_id}/episode/close", "post"),
        # extensions: leaving the waitlist, declining an offer
        ("booking", "/waitlist/{entry_id}/withdraw", "post"),
        ("booking", "/waitlist/offers/{offer_id}/decline", "post"),
        ("booking", "/waitlist/offers/{offer_id}/leave", "post"),
        # extensions: a site's closures
        ("booking", "/sites/{site_id}/closures", "put"),
        ("booking", "/sites/{site_id}/closures", "get"),
        ("followup", "/sites/{site_id}/followup-policy", "put"),
        ("followup", "/followups/{followup_id}/complete", "post"),
        ("notify", "/recipients/{recipient_id}/preferences", "put"),
        ("crisis", "/sites/{site_id}/escalation-policy", "put"),
        ("crisis", "/alerts/{alert_id}/ack", "post"),
        ("crisis", "/alerts/{alert_id}/escalate", "post"),
        # Shift swap requests (extension).
        ("crisis", "/schedules/{schedule_id}/swap-requests", "post"),
        ("crisis", "/schedules/{schedule_id}/swap-requests", "get"),
        ("crisis", "/swap-requests/{swap_request_id}", "get"),
        ("crisis", "/swap-requests/{swap_request_id}/accept", "post"),
        ("crisis", "/swap-requests/{swap_request_id}/cancel", "post"),
    ],
)
def test_each_service_document_holds_its_contract_operations(
    generated: dict[str, str], service: str, path: str, method: str
) -> None:
    openapi = json.loads(generated[f"openapi/{service}.json"])

    assert openapi["info"]["title"] == service
    assert method in openapi["paths"][path]


def test_the_contract_pages_tables_match_the_documents(generated: dict[str, str]) -> None:
    docs_dir = default_docs_dir()
    page = (docs_dir / CONTRACT_PAGE).read_text("utf-8")

    assert page == contract_page(docs_dir, generated), (
        f"docs/{CONTRACT_PAGE} no longer matches the API documents. Regenerate with: {REGENERATE}"
    )


def test_the_contract_page_lists_every_operation_and_every_event(
    generated: dict[str, str],
) -> None:
    page = contract_page(default_docs_dir(), generated)

    for service in ("booking", "followup", "notify", "crisis"):
        openapi = json.loads(generated[f"openapi/{service}.json"])
        for path, item in openapi["paths"].items():
            for method in item:
                assert f"`{method.upper()} {path}`" in page, (service, method, path)
    for channel in json.loads(generated["asyncapi.json"])["channels"].values():
        assert f"`{channel['address']}`" in page


# Pages a person opens from a message (HTML) that share their path with a JSON operation.
_MANAGE = "/appointments/{appointment_id}/manage"
HTML_PAGES = {
    ("booking", "get", "/waitlist/offers/{offer_id}/accept"),
    # The client's confirm-or-cancel pages (the reminder's `manage_url`): HTML only.
    ("booking", "get", _MANAGE),
    ("booking", "post", f"{_MANAGE}/confirm"),
    ("booking", "get", f"{_MANAGE}/cancel"),
    ("booking", "post", f"{_MANAGE}/cancel"),
    ("booking", "get", f"{_MANAGE}/reschedule"),
    ("booking", "post", f"{_MANAGE}/reschedule"),
    # The client's own preferences page (the link in each email's footer): HTML only.
    ("notify", "get", "/recipients/{recipient_id}/preferences/page"),
    ("notify", "post", "/recipients/{recipient_id}/preferences/page"),
}


@pytest.mark.parametrize("service", ["booking", "followup", "notify", "crisis"])
def test_every_error_answer_is_declared_as_a_problem_and_every_key_as_bearer(
    generated: dict[str, str], service: str
) -> None:
    openapi = json.loads(generated[f"openapi/{service}.json"])
    problems = {"#/components/schemas/Problem", "#/components/schemas/ValidationProblem"}

    assert openapi["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert openapi["security"] == [{"bearer": []}]
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            public = operation.get("security") == []
            # Public: the probes, routes whose credential is a signed link in the URL, and the
            # SMS provider's webhook (its shared secret header is the credential).
            signed_link = path in {
                "/schedules/{schedule_id}/calendar.ics",
                "/staff/{staff_id}/calendar.ics",
                "/waitlist/offers/{offer_id}/accept",
                "/waitlist/offers/{offer_id}/decline",
                "/waitlist/offers/{offer_id}/leave",
                "/inbound/sms",
                "/inbound/sms/status",
                "/inbound/sms/twilio",  # Twilio's signature is the credential
                "/inbound/sms/twilio/status",
                "/inbound/voice/twilio",  # a page's call, signed by Twilio too
                "/inbound/voice/twilio/gather",
                "/inbound/voice/twilio/status",
                "/recipients/{recipient_id}/preferences/page",  # the client's signed link
                _MANAGE,
                f"{_MANAGE}/confirm",
                f"{_MANAGE}/cancel",
                f"{_MANAGE}/reschedule",
            }
            assert public == (path in {"/healthz", "/readyz", "/metrics"} or signed_link), (
                method,
                path,
            )
            if not public:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert {"400", "422"} <= set(operation["responses"]), (method, path)
            for status, answer in operation["responses"].items():
                if (service, method, path) in HTML_PAGES and "text/html" in answer["content"]:
                    continue  # a page for a person: its refusals are pages too
                if status.startswith("4"):
                    schema = answer["content"]["application/problem+json"]["schema"]
                    expected = "ValidationProblem" if status == "422" else "Problem"
                    assert schema["$ref"] == f"#/components/schemas/{expected}", (path, status)
                    assert schema["$ref"] in problems


# The SMS provider's webhooks take what the provider sends: a field it adds must not lose a
# staff member's `ACK` or a client's `STOP`. Every other body is ours, and a field it does not
# define is a 422.
LENIENT_BODIES = {
    ("crisis", "post", "/inbound/sms"),
    ("notify", "post", "/inbound/sms"),
    ("notify", "post", "/inbound/sms/status"),
}


def _open_objects(schemas: dict[str, Any], schema: Any, seen: set[str]) -> list[str]:
    """The object schemas under `schema` (followed through $ref, properties, items and
    unions) that take properties they do not define."""
    if isinstance(schema, list):
        return [name for part in schema for name in _open_objects(schemas, part, seen)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return [f"{name}.{o}" if o else name for o in _open_objects(schemas, schemas[name], seen)]
    found = (
        [""] if "properties" in schema and schema.get("additionalProperties") is not False else []
    )
    for key in ("properties", "items", "anyOf", "oneOf", "allOf"):
        part = schema.get(key)
        found += _open_objects(
            schemas, list(part.values()) if key == "properties" and part else part, seen
        )
    return found


@pytest.mark.parametrize("service", ["booking", "followup", "notify", "crisis"])
def test_every_request_body_refuses_fields_it_does_not_define(
    generated: dict[str, str], service: str
) -> None:
    openapi = json.loads(generated[f"openapi/{service}.json"])
    schemas = openapi["components"]["schemas"]

    open_bodies = {}
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None or (service, method, path) in LENIENT_BODIES:
                continue
            if found := _open_objects(schemas, body["schema"], set()):
                open_bodies[f"{method.upper()} {path}"] = found

    assert not open_bodies, f"bodies that would drop an unknown field silently: {open_bodies}"


@pytest.mark.parametrize("service", ["booking", "followup", "notify", "crisis"])
def test_every_keyed_operation_declares_the_rate_limit_and_the_body_ceiling(
    generated: dict[str, str], service: str
) -> None:
    """Contract v2 conventions: a body over 64 KiB is a 413 and a key past its rate limit gets
    a 429 (counseling_shared.http.body_limit, .rate_limit); the document says so, as a problem."""
    openapi = json.loads(generated[f"openapi/{service}.json"])
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue  # probes and signed-link pages (whose refusals may be pages)
            expected = {"429"} | ({"413"} if "requestBody" in operation else set())
            declared = operation["responses"]
            assert expected <= set(declared), (method, path)
            for status in expected:
                schema = declared[status]["content"]["application/problem+json"]["schema"]
                assert schema["$ref"] == "#/components/schemas/Problem", (method, path, status)
