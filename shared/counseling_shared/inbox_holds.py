"""Stream order per aggregate, across a consumer's replicas (docs/reliability.md).

A message whose handler failed and was nak'ed holds its subject (the envelope's aggregate id)
in `inbox_holds`, written with its batch. The statement that claims a batch's inbox rows reads
the holds of the batch's subjects at once: a message whose subject another message holds is
not claimed (its inbox row stays free) but nak'ed unhandled, to come back just after the
holder is due. When the holder is handled or dead-lettered, its hold is deleted in the same
transaction. A hold whose message never comes back (the stream lost it) lapses after
`INBOX_HOLD_LAPSE` past its due time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from counseling_shared.envelope import Envelope

if TYPE_CHECKING:
    from counseling_shared.db import Connection

INBOX_HOLD_LAPSE = timedelta(minutes=5)

HELD_MARGIN = 0.25
"""A held message comes back this long after the message holding its subject is due again."""

# One round trip, as the plain claim was: the holds are read and the free rows claimed together.
_CLAIM = f"""
WITH held AS (
    SELECT subject, event_id, extract(epoch FROM due - now())::float8 AS wait
    FROM inbox_holds
    WHERE consumer = $1 AND subject = ANY($3::text[])
      AND due > now() - interval '{int(INBOX_HOLD_LAPSE.total_seconds())} seconds'
), claimed AS (
    INSERT INTO inbox (consumer, event_id)
    SELECT $1, b.event_id FROM unnest($2::uuid[], $3::text[]) AS b(event_id, subject)
    WHERE NOT EXISTS (
        SELECT 1 FROM held WHERE held.subject = b.subject AND held.event_id <> b.event_id
    )
    ON CONFLICT DO NOTHING RETURNING event_id
)
SELECT event_id, NULL::text AS subject, NULL::float8 AS wait FROM claimed
UNION ALL
SELECT event_id, subject, wait FROM held
"""


@dataclass(frozen=True)
class Claim:
    fresh: set[UUID]
    """The messages whose inbox row was claimed now (the others are duplicates or held)."""
    held: dict[UUID, float]
    """Held messages → their nak delay: another message holds their subject."""
    holders: set[UUID]
    """Messages of the batch that hold their own subject (they failed before)."""


async def claim(conn: Connection, consumer: str, envelopes: Sequence[Envelope]) -> Claim:
    rows = await conn.fetch(
        _CLAIM, consumer, [e.id for e in envelopes], [e.subject for e in envelopes]
    )
    fresh: set[UUID] = set()
    holds: dict[str, tuple[UUID, float]] = {}
    for row in rows:
        if row["subject"] is None:
            fresh.add(row["event_id"])
        else:
            holds[row["subject"]] = (row["event_id"], row["wait"])
    if not holds:
        return Claim(fresh, {}, set())
    held: dict[UUID, float] = {}
    holders: set[UUID] = set()
    for envelope in envelopes:
        holder = holds.get(envelope.subject)
        if holder is None:
            continue
        if holder[0] == envelope.id:
            holders.add(envelope.id)
        else:
            held[envelope.id] = max(holder[1], 0.0) + HELD_MARGIN
    return Claim(fresh, held, holders)


async def hold(conn: Connection, consumer: str, envelope: Envelope, delay: float) -> None:
    """`envelope` failed and comes back in `delay` s: its subject's later messages wait."""
    await conn.execute(
        """INSERT INTO inbox_holds (consumer, subject, event_id, due)
           VALUES ($1, $2, $3, now() + $4 * interval '1 second')
           ON CONFLICT (consumer, subject)
           DO UPDATE SET event_id = EXCLUDED.event_id, due = EXCLUDED.due""",
        consumer,
        envelope.subject,
        envelope.id,
        delay,
    )


async def release(conn: Connection, consumer: str, event_ids: Sequence[UUID]) -> None:
    """The messages `event_ids` are settled (handled or dead-lettered): their holds go."""
    await conn.execute(
        "DELETE FROM inbox_holds WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        consumer,
        list(event_ids),
    )
