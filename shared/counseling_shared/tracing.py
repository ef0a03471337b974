"""OpenTelemetry setup and W3C `traceparent` propagation across NATS headers
(docs/operations.md)."""

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from counseling_shared.span_redaction import CredentialRedaction

_configured = False


def configure_tracing(
    service_name: str, otlp_endpoint: str | None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install a tracer provider once per process; export over OTLP/HTTP when an endpoint is set."""
    global _configured
    current = trace.get_tracer_provider()
    if _configured and isinstance(current, TracerProvider):
        if exporter is not None:
            current.add_span_processor(BatchSpanProcessor(exporter))
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    # First, so no exporter ever sees a signed link's token.
    provider.add_span_processor(CredentialRedaction())
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


# The last context's headers: a handler asks several times in one span (each outbox row,
# a timer's row), and the propagators' inject is a fair share of a batched event's cost. A
# context is never changed once made (a new value makes a new context), so it is the key.
_last_headers: tuple[object, object, dict[str, str]] | None = None


def current_trace_headers() -> dict[str, str]:
    """The active trace context as headers (`traceparent`, `tracestate`) to send along."""
    global _last_headers
    context, propagator = otel_context.get_current(), propagate.get_global_textmap()
    last = _last_headers
    if last is not None and last[0] is context and last[1] is propagator:
        return dict(last[2])
    carrier: dict[str, str] = {}
    inject(carrier, context=context)
    _last_headers = (context, propagator, carrier)
    return dict(carrier)


def context_from_headers(headers: Mapping[str, str] | None) -> otel_context.Context:
    return extract(dict(headers or {}))


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
