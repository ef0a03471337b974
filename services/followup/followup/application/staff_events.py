"""booking's StaffDeactivated: followup records it, so the member's staff key is refused."""

from __future__ import annotations

from counseling_shared.events import StaffDeactivated
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters import staff_store
from followup.domain import staff


async def staff_deactivated(uow: UnitOfWork, event: StaffDeactivated) -> None:
    """Recorded once: a second deactivation keeps the first instant (booking emits one)."""
    if await staff_store.deactivation_version(uow.conn, event.staff_id):
        return
    recorded = staff.StaffDeactivationRecorded(event.site_id, uow.now())
    await uow.append(
        staff.staff_stream_id(event.staff_id), 0, [NewEvent(*staff.to_record(recorded))]
    )
    await staff_store.save_deactivation(uow.conn, event.staff_id, recorded, 1)
