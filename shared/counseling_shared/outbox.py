"""Recording integration events for publication, in the same transaction as the change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from counseling_shared.envelope import Envelope
from counseling_shared.tracing import current_trace_headers

if TYPE_CHECKING:
    from counseling_shared.db import Connection

OUTBOX_CHANNEL = "outbox"


def stream_for(context: str) -> str:
    """The JetStream stream a producing context publishes to (DESIGN §4)."""
    return context.upper()


async def enqueue(
    conn: Connection, envelopes: list[Envelope], headers: dict[str, str] | None = None
) -> None:
    """Add envelopes to the outbox and wake the relay once the transaction commits."""
    if not envelopes:
        return
    trace_headers = headers if headers is not None else current_trace_headers()
    rows = [
        (e.id, stream_for(e.source), e.nats_subject, e.encode(), trace_headers, e.subject)
        for e in envelopes
    ]
    # One round trip for the rows and the wake-up. NOTIFY inside a transaction is delivered
    # at commit, never for a rolled-back change.
    await conn.execute(
        """WITH added AS (
               INSERT INTO outbox (event_id, stream, subject, payload, headers, aggregate)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[],
                                    $5::jsonb[], $6::text[])
               RETURNING 1)
           SELECT pg_notify($7, '') FROM (SELECT count(*) FROM added) AS inserted""",
        *(list(col) for col in zip(*rows, strict=True)),
        OUTBOX_CHANNEL,
    )
