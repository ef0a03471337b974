"""Recording integration events for publication, in the same transaction as the change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from counseling_shared.envelope import Envelope
from counseling_shared.tracing import current_trace_headers

if TYPE_CHECKING:
    from counseling_shared.db import Connection

OUTBOX_CHANNEL = "outbox"


def stream_for(context: str) -> str:
    """The JetStream stream a producing context publishes to
    (docs/architecture.md, Subjects and streams)."""
    return context.upper()


def insert_rows(first: int) -> str:
    """The rows' insert, their six columns' arrays numbered from `$first` (`row_columns`)."""
    n = [f"${i}" for i in range(first, first + 6)]
    return f"""INSERT INTO outbox (event_id, stream, subject, payload, headers, aggregate)
               SELECT * FROM unnest({n[0]}::uuid[], {n[1]}::text[], {n[2]}::text[],
                                    {n[3]}::bytea[], {n[4]}::jsonb[], {n[5]}::text[])
               RETURNING 1"""


OutboxRow = tuple[Any, ...]
"""One outbox row's values, in `insert_rows`' column order."""


def rows_of(envelopes: list[Envelope], headers: dict[str, str] | None = None) -> list[OutboxRow]:
    """The envelopes' rows, with the current trace's headers unless `headers` are given."""
    trace_headers = headers if headers is not None else current_trace_headers()
    return [
        (e.id, stream_for(e.source), e.nats_subject, e.encode(), trace_headers, e.subject)
        for e in envelopes
    ]


def row_columns(rows: list[OutboxRow]) -> list[list[Any]]:
    """The values of `insert_rows`: one array per column."""
    return [list(col) for col in zip(*rows, strict=True)]


async def enqueue(
    conn: Connection, envelopes: list[Envelope], headers: dict[str, str] | None = None
) -> None:
    """Add envelopes to the outbox and wake the relay once the transaction commits."""
    await enqueue_rows(conn, rows_of(envelopes, headers))


async def enqueue_rows(conn: Connection, rows: list[OutboxRow]) -> None:
    """`enqueue` for rows made earlier (`rows_of`), perhaps of several units of work."""
    if not rows:
        return
    # One round trip for the rows and the wake-up. NOTIFY inside a transaction is delivered
    # at commit, never for a rolled-back change.
    await conn.execute(
        f"""WITH added AS ({insert_rows(1)})
           SELECT pg_notify($7, '') FROM (SELECT count(*) FROM added) AS inserted""",
        *row_columns(rows),
        OUTBOX_CHANNEL,
    )
