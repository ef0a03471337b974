"""Keeps signed links' tokens out of the traces.

FastAPI's server span records the request's query as `url.query`, masking only a few cloud
providers' signature parameters. Our pages and calendar feeds carry their credential there
(`?token=…`): a trace backend would then hold working links to an on-call page, a client's
check-in form or preferences, a waitlist offer. This processor masks it as the span starts,
before any exporter sees the span.
"""

from urllib.parse import parse_qsl, urlencode

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

CREDENTIAL_PARAMETERS = frozenset({"token"})
"""Query parameters that are a credential: a signed link's token (`counseling_shared.links`)."""
MASK = "REDACTED"  # FastAPI's own word for the values it masks


def redact_query(query: str) -> str:
    """`query` with the value of every credential parameter masked, the rest kept."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name in CREDENTIAL_PARAMETERS for name, _ in pairs):
        return query
    return urlencode([(n, MASK if n in CREDENTIAL_PARAMETERS else v) for n, v in pairs])


class CredentialRedaction(SpanProcessor):
    """Masks credential query parameters in a server span's `url.query` when it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        query = (span.attributes or {}).get("url.query")
        if isinstance(query, str) and query:
            span.set_attribute("url.query", redact_query(query))
