"""Dead letters of one service: list them, show one, redrive them to the same handler.

Redrive (docs/architecture.md, "Redriving dead letters"): the stored payload and headers are
published on `dlq.redrive.<consumer>` in the DLQ stream, where the consumer's `-redrive` durable
hands them to the same handler through the same inbox, so an event already applied is skipped.
The row is locked while it is published and `redriven_at` is set in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from nats.js import JetStreamContext

from counseling_shared.jetstream import DLQ_STREAM, REDRIVE_ORIGINAL_SUBJECT, redrive_subject

if TYPE_CHECKING:
    from counseling_shared.db import Connection

REDRIVE_OF = "Dlq-Redrive-Of"
"""Header naming the dead letter (its id in the service's `dead_letters`) a message redrives."""

_COLUMNS = """id, consumer, stream, stream_seq, subject, event_id, event_type, reason, detail,
              deliveries, payload, headers, created_at, redriven_at, reviewed_at"""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    stream: str
    stream_seq: int
    subject: str
    event_id: UUID | None
    event_type: str | None
    reason: str
    detail: str
    deliveries: int
    payload: bytes
    headers: dict[str, str]
    created_at: datetime
    redriven_at: datetime | None
    reviewed_at: datetime | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> DeadLetter:
        return cls(**dict(row))

    def payload_json(self) -> Any:
        """The payload parsed as JSON, or its text when it is not JSON (a malformed message)."""
        try:
            return json.loads(self.payload)
        except ValueError:
            return self.payload.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Selection:
    """Which dead letters: of one consumer, with one reason, only those still waiting (neither
    redriven nor marked reviewed)."""

    consumer: str | None = None
    reason: str | None = None
    waiting_only: bool = False
    limit: int = 1000


async def list_dead_letters(conn: Connection, selection: Selection) -> list[DeadLetter]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM dead_letters
            WHERE ($1::text IS NULL OR consumer = $1)
              AND ($2::text IS NULL OR reason = $2)
              AND (NOT $3 OR (redriven_at IS NULL AND reviewed_at IS NULL))
            ORDER BY id
            LIMIT $4""",
        selection.consumer,
        selection.reason,
        selection.waiting_only,
        selection.limit,
    )
    return [DeadLetter.of(r) for r in rows]


async def get_dead_letter(conn: Connection, letter_id: int) -> DeadLetter | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1", letter_id)
    return DeadLetter.of(row) if row else None


async def mark_reviewed(conn: Connection, letter_ids: list[int]) -> list[int]:
    """Mark dead letters rightly refused (not to be redriven): the pruner deletes them after
    PRUNE_DEAD_LETTERS_AFTER. All or none: raises `NoSuchDeadLetter` (and marks nothing) when
    an id is not there. Returns the ids marked; marking one twice keeps its first time."""
    async with conn.transaction():
        rows = await conn.fetch(
            """UPDATE dead_letters SET reviewed_at = coalesce(reviewed_at, now())
               WHERE id = ANY($1) RETURNING id""",
            letter_ids,
        )
        marked = sorted(r["id"] for r in rows)
        missing = sorted(set(letter_ids) - set(marked))
        if missing:
            raise NoSuchDeadLetter(missing)  # rolls the marks back
    return marked


async def already_redriven(conn: Connection, letter_ids: list[int]) -> dict[int, datetime | None]:
    """When each named letter was redriven (None: not yet); raises `NoSuchDeadLetter` when an
    id is not there. Lets `redrive ID...` refuse before it redrives any of them."""
    rows = await conn.fetch(
        "SELECT id, redriven_at FROM dead_letters WHERE id = ANY($1)", letter_ids
    )
    found: dict[int, datetime | None] = {r["id"]: r["redriven_at"] for r in rows}
    missing = sorted(set(letter_ids) - set(found))
    if missing:
        raise NoSuchDeadLetter(missing)
    return found


class AlreadyRedriven(Exception):
    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(f"dead letter {letter.id} was already redriven at {letter.redriven_at}")
        self.letter = letter


class NoSuchDeadLetter(LookupError):
    def __init__(self, letter_ids: list[int]) -> None:
        plural = "s" if len(letter_ids) > 1 else ""
        super().__init__(f"no dead letter{plural} {', '.join(map(str, letter_ids))}")
        self.letter_ids = letter_ids


def redrive_headers(letter: DeadLetter, *, attempt: str = "") -> dict[str, str]:
    """The stored headers (trace context included) without JetStream's own, plus ours.

    The message id makes a repeated publish of the same redrive (a retry after a lost ack) a
    duplicate the stream drops; `attempt` distinguishes a deliberate second redrive.
    """
    kept = {k: v for k, v in letter.headers.items() if not k.startswith("Nats-")}
    return {
        **kept,
        "Nats-Msg-Id": f"redrive:{letter.consumer}:{letter.id}{attempt}",
        REDRIVE_ORIGINAL_SUBJECT: letter.subject,
        REDRIVE_OF: str(letter.id),
    }


async def redrive(
    conn: Connection, js: JetStreamContext, letter_id: int, *, again: bool = False
) -> DeadLetter:
    """Publish one dead letter for its consumer to handle again; return it as now stored.

    Raises `AlreadyRedriven` for a letter redriven before, unless `again`.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE id = $1 FOR UPDATE", letter_id
        )
        if row is None:
            raise NoSuchDeadLetter([letter_id])
        letter = DeadLetter.of(row)
        if letter.redriven_at is not None and not again:
            raise AlreadyRedriven(letter)
        attempt = f":{letter.redriven_at.timestamp()}" if letter.redriven_at else ""
        await js.publish(
            redrive_subject(letter.consumer),
            letter.payload,
            stream=DLQ_STREAM,
            headers=redrive_headers(letter, attempt=attempt),
            timeout=5.0,
        )
        updated = await conn.fetchrow(
            f"""UPDATE dead_letters SET redriven_at = now() WHERE id = $1
                RETURNING {_COLUMNS}""",
            letter_id,
        )
    assert updated is not None
    return DeadLetter.of(updated)
