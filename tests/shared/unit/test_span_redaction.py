"""A signed link's token never reaches a trace: the server span's `url.query` masks it.

FastAPI's own telemetry records the query (it masks only cloud providers' signature
parameters), and every page link and calendar feed carries its credential there."""

from __future__ import annotations

from uuid import uuid4

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from counseling_shared.clock import SystemClock
from counseling_shared.service import create_app
from counseling_shared.span_redaction import redact_query
from counseling_shared.tracing import configure_tracing
from tests.shared.integration.probe_service import probe_definition

TOKEN = "eyJzIjoiYSJ9.Zx1Yw2.c2lnbmF0dXJl"  # noqa: S105 - the shape of a signed link's token


async def test_the_server_span_records_the_query_without_the_links_token() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("probe", None, exporter=exporter)
    app = create_app(
        probe_definition(
            database_url="postgresql://unused/x", nats_url="nats://unused:1", site_id=uuid4()
        ),
        SystemClock(),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            await client.get(f"/staff/{uuid4()}", params={"token": TOKEN, "limit": "5"})
        provider.force_flush()
        spans = exporter.get_finished_spans()
    finally:
        exporter.shutdown()  # it stays attached to the process's provider: stop collecting

    [span] = spans
    query = (span.attributes or {}).get("url.query")
    assert query == "token=REDACTED&limit=5"
    assert TOKEN not in str(dict(span.attributes or {}))


def test_only_the_token_is_masked_and_a_query_without_one_is_kept_as_sent() -> None:
    assert redact_query("a=1&token=x.y.z&token=&b=%20") == "a=1&token=REDACTED&token=REDACTED&b=+"
    assert redact_query("cursor=abc%3D&limit=5") == "cursor=abc%3D&limit=5"
    assert redact_query("tokens=1") == "tokens=1"
