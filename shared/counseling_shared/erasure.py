"""A client's erasure reaches the dead letters naming them (docs/security.md, "Client data
erasure").

One rule, in SQL for a service's `dead_letters` table and in Python for the copies on the `DLQ`
stream: a dead letter names the client when the canonical text of their id (`str(UUID)`,
compared without regard to case) occurs in its subject, its headers or its payload (in the table
also its failure detail, which may quote the payload). The payload
is searched as bytes, so the id is found in any JSON field at any depth (`client_id`, an
envelope's data, a nested object) and in a payload that is not JSON or not even UTF-8.

Such letters are deleted, not redacted: nothing refers to a dead letter's row (it is a copy of a
message its consumer never applied), and a redacted payload could not be redriven anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from counseling_shared.db import Connection

# `encode(payload, 'escape')` keeps printable ASCII as it is (other bytes become `\nnn`), so the
# id is found in any payload, valid UTF-8 or not; `detail` may quote the payload too.
_DELETE_NAMING = """
    DELETE FROM dead_letters
    WHERE strpos(lower(encode(payload, 'escape')), $1) > 0
       OR strpos(lower(subject), $1) > 0
       OR strpos(lower(headers::text), $1) > 0
       OR strpos(lower(detail), $1) > 0
"""


async def erase_dead_letters(conn: Connection, client_id: UUID) -> int:
    """Delete the service's dead letters naming the client (call it inside the erasure's
    transaction); return how many. A later redrive of one finds no such dead letter."""
    status = await conn.execute(_DELETE_NAMING, str(client_id))
    return int(status.rsplit(" ", 1)[-1])


def names_client(
    client_id: UUID, subject: str, headers: Mapping[str, str] | None, payload: bytes | None
) -> bool:
    """Whether a message (a copy on the DLQ stream) names the client: the same rule as
    `erase_dead_letters`."""
    needle = str(client_id)
    if needle in subject.lower():
        return True
    if any(needle in f"{k}:{v}".lower() for k, v in (headers or {}).items()):
        return True
    return needle.encode() in (payload or b"").lower()
