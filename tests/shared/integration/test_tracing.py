"""One trace spans HTTP → outbox → NATS → consumer, and every log line names it."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from counseling_shared.clock import SystemClock
from counseling_shared.logs import configure_logging
from counseling_shared.service import create_app
from counseling_shared.tracing import configure_tracing
from devstack.handles import NatsHandle
from tests.shared.integration.probe_service import API_KEY, probe_definition
from tests.shared.integration.support import eventually, messages_on, served

pytestmark = pytest.mark.integration


async def test_the_consumer_continues_the_trace_the_http_request_started(
    migrated_url: str, nats_server: NatsHandle, js: JetStreamContext
) -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("probe", None, exporter=exporter)
    site = uuid4()
    app = create_app(
        probe_definition(database_url=migrated_url, nats_url=nats_server.url, site_id=site),
        SystemClock(),
    )
    log_lines = io.StringIO()
    with contextlib.redirect_stdout(log_lines):
        configure_logging("probe", "INFO")  # log to a buffer we can read
    try:
        async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            answer = await client.post(
                "/staff",
                json={"site_id": str(site), "name": "A", "role": "counselor", "email": "a@b.c"},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
            staff_id = UUID(answer.json()["id"])
            pool = app.state.runtime.db()
            await eventually(lambda: _seen(pool, staff_id))
    finally:
        configure_logging("probe", "INFO")
    provider.force_flush()
    spans = exporter.get_finished_spans()
    exporter.shutdown()  # it stays attached to the process's provider: stop collecting

    server = _one(spans, SpanKind.SERVER, "POST /staff")
    consumer = _one(spans, SpanKind.CONSUMER, "handle StaffRegistered")
    trace_id = server.context.trace_id
    assert consumer.context.trace_id == trace_id
    assert _ancestors(consumer, spans)[-1] is server, "the consumer span is not under the request"

    [msg] = await messages_on(js, "BOOKING", f"booking.{site}.StaffRegistered")
    assert msg.headers is not None
    assert msg.headers["traceparent"].split("-")[1] == format(trace_id, "032x")

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    by_event = {line["event"]: line for line in lines if line.get("staff_id") == str(staff_id)}
    assert by_event["staff_registered"]["trace_id"] == format(trace_id, "032x")
    assert by_event["staff_seen"]["trace_id"] == format(trace_id, "032x")
    assert by_event["staff_seen"]["span_id"] == format(consumer.context.span_id, "016x")


def _one(spans: tuple[ReadableSpan, ...], kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, [(s.kind, s.name) for s in spans]
    return found[0]


def _ancestors(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """The chain of recorded parents from `span` up to the trace's root."""
    by_id = {s.context.span_id: s for s in spans}
    chain: list[ReadableSpan] = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def _seen(pool: Any, staff_id: UUID) -> bool:
    found: bool = await pool.fetchval(
        "SELECT count(*) = 1 FROM staff_seen WHERE staff_id = $1", staff_id
    )
    return found
