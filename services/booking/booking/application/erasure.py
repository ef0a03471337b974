"""Erasing a client on request: booking keeps a tombstone (docs/security.md).

The client's row and their appointments stay, so every id other services used still resolves,
but whatever identifies or describes the person is blanked, in the projections and in the stored
events alike, so a later `counselctl rebuild booking` cannot bring it back. Its dead letters naming
the client are deleted (`counseling_shared.erasure`). Their waiting waitlist entries close
(`client_erased`): nothing is offered to an erased client again; an open offer is withdrawn,
its hold released, and its slot goes to the next client at once, as on a decline: the
operator's tool has no offer policy (no link signer, no offer window), so it hands the slot to
the running service's deferred-offer timer, due now, which offers it on. Runs as the operator
(`counselctl clients erase`), with a role that may rewrite the event store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters import waitlist_store
from booking.application.recording import stream_id
from booking.application.waitlist import close_entries
from booking.domain.scheduling.waitlist import CloseReason
from counseling_shared.clock import SystemClock
from counseling_shared.erasure import erase_dead_letters
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

ERASED = "[erased]"


async def erase_client(conn: Connection, client_id: UUID) -> dict[str, int]:
    """Blank the client's details; return the rows changed per table (nothing for an unknown
    client). Stored events keep their shape, so they still fold."""
    async with conn.transaction():
        clients = await conn.execute(
            """UPDATE clients SET name = $2, email = NULL, phone = NULL,
                                  referral_to = NULL, referral_contact = NULL
               WHERE id = $1""",
            client_id,
            ERASED,
        )
        appointments = await conn.execute(
            """UPDATE appointments
               SET cancel_reason = CASE WHEN cancel_reason IS NULL THEN NULL ELSE $2 END,
                   goals = CASE WHEN goals IS NULL THEN NULL ELSE '[]'::jsonb END,
                   next_steps = NULL
               WHERE client_id = $1""",
            client_id,
            ERASED,
        )
        streams = [stream_id("client", client_id)] + [
            stream_id("appointment", r["id"])
            for r in await conn.fetch("SELECT id FROM appointments WHERE client_id = $1", client_id)
        ]
        events = await conn.execute(
            """UPDATE events SET data = data || CASE type
                   WHEN 'ClientRegistered' THEN
                       jsonb_build_object('name', $2::text, 'email', null, 'phone', null)
                   WHEN 'ClientContactCorrected' THEN
                       jsonb_build_object('name', $2::text, 'email', null, 'phone', null)
                   WHEN 'CareEpisodeClosed' THEN jsonb_build_object('referral', null)
                   WHEN 'AppointmentCancelled' THEN jsonb_build_object('reason', $2::text)
                   WHEN 'SessionCompleted' THEN
                       jsonb_build_object('goals', '[]'::jsonb, 'next_steps', null)
                   END
               WHERE stream_id = ANY($1::text[])
                 AND type IN ('ClientRegistered', 'ClientContactCorrected', 'CareEpisodeClosed',
                              'AppointmentCancelled', 'SessionCompleted')""",
            streams,
            ERASED,
        )
        replays = "DELETE 0"
        if await _idempotency_keeps_responses(conn):
            # Replayable answers of POST /clients and friends may hold the old details.
            replays = await conn.execute(
                """DELETE FROM idempotency_keys
                   WHERE position(convert_to($1, 'UTF8') IN coalesce(response_body, '')) > 0""",
                str(client_id),
            )
        # Deleted, not tombstoned: no other service refers to a dead letter.
        dead_letters = await erase_dead_letters(conn, client_id)
        entries = await _close_waiting_entries(conn, client_id)
    return {
        "clients": _count(clients),
        "appointments": _count(appointments),
        "events": _count(events),
        "idempotency_keys": _count(replays),
        "dead_letters": dead_letters,
        "waitlist_entries": entries,
    }


async def _close_waiting_entries(conn: Connection, client_id: UUID) -> int:
    """Close the client's waiting entries, in the erasure's transaction (events, projection
    and outbox together); an open offer's slot is handed on at once."""
    uow = UnitOfWork(conn, source="booking", clock=SystemClock())
    waiting = await waitlist_store.waiting_of_client(conn, client_id)
    closed = await close_entries(uow, waiting, CloseReason.CLIENT_ERASED, None, hand_over=True)
    await uow.flush()
    return len(closed)


async def _idempotency_keeps_responses(conn: Connection) -> bool:
    """Whether idempotency records still hold whole responses (older schemas did)."""
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM information_schema.columns
                          WHERE table_name = 'idempotency_keys' AND column_name = 'response_body'
                            AND table_schema = current_schema())"""
    )
    return found


def _count(status: str) -> int:
    """Rows of an `UPDATE n` / `DELETE n` command status."""
    return int(status.rsplit(" ", 1)[-1])
