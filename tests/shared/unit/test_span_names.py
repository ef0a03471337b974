"""A request's server span is named after the route routing chose (FastAPI's own telemetry),
not by matching the path against every route beforehand as the OpenTelemetry instrumentation
did, at a few percent of a service's CPU; that package is no longer a dependency."""

from __future__ import annotations

from uuid import uuid4

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from counseling_shared.clock import SystemClock
from counseling_shared.service import create_app
from counseling_shared.tracing import configure_tracing
from tests.shared.integration.probe_service import probe_definition


async def test_the_server_span_is_named_by_the_route_routing_chose() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("probe", None, exporter=exporter)
    # Not started: the route refuses the unauthenticated request before it needs a database.
    app = create_app(
        probe_definition(
            database_url="postgresql://unused/x", nats_url="nats://unused:1", site_id=uuid4()
        ),
        SystemClock(),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            answer = await client.get(f"/staff/{uuid4()}")
            probe = await client.get("/healthz")
        provider.force_flush()
        spans = exporter.get_finished_spans()
    finally:
        exporter.shutdown()  # it stays attached to the process's provider: stop collecting

    assert (answer.status_code, probe.status_code) == (401, 200)
    assert [(s.name, (s.attributes or {}).get("http.route")) for s in spans] == [
        ("GET /staff/{staff_id}", "/staff/{staff_id}")  # and none for the probe
    ]
