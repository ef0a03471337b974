"""Announcing every active staff member's details again (`counselctl staff reannounce`).

After a `LINK_SIGNING_KEY` rotation crisis still holds staff phone digests made with the old
key; it makes them again from the next `StaffRegistered`. This publishes that event again for
each active member (at a site, or everywhere), with nothing changed.

Each member gets a `StaffMemberAnnouncedAgain` on their own stream, not a contact change
with unchanged values: nothing changed, and the event store says what happened. Publishing
goes through the stream like every command, so the snapshot published is the one at that
version: a `PATCH /staff/{id}` racing it makes the append conflict, and the member is read
and announced again (never an older snapshot after a newer one from this command).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from booking.adapters import projections
from booking.application import handlers
from booking.application.runner import SOURCE
from counseling_shared.clock import Clock
from counseling_shared.eventstore import ConcurrencyConflict
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection


async def reannounce_staff(
    conn: Connection, site_id: UUID | None = None, clock: Clock | None = None
) -> int:
    """Publish `StaffRegistered` again for every active member (of `site_id`, if given), one
    transaction each; return how many were announced. Runs as the operator, while booking's
    outbox relay publishes what each transaction queued."""
    found = await conn.fetch(
        """SELECT id FROM staff
           WHERE deactivated_at IS NULL AND ($1::uuid IS NULL OR site_id = $1)
           ORDER BY registered_at, id""",
        site_id,
    )
    announced = 0
    for row in found:
        announced += await _announce(conn, row["id"], clock)
    return announced


@dataclass(frozen=True)
class _At:
    instant: datetime

    def now(self) -> datetime:
        return self.instant


async def _announce(conn: Connection, staff_id: UUID, clock: Clock | None) -> int:
    for attempt in (1, 2):
        try:
            async with conn.transaction():
                # The database server's clock, not the operator's machine's: consumers keep a
                # member's latest announcement by its time, and a clock running behind would
                # make this one look older than the last change (and be ignored).
                at = clock or _At(await conn.fetchval("SELECT clock_timestamp()"))
                member = await projections.load_staff_member(conn, staff_id)
                if member is None or not member.active:
                    return 0  # deactivated meanwhile: never paged again
                uow = UnitOfWork(conn, source=SOURCE, clock=at)
                await handlers.announce_staff_again(uow, member)
                await uow.flush()
            return 1
        except ConcurrencyConflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
