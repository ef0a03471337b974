"""What happens when a follow-up's `due_at` arrives (called by the durable scheduler)."""

from __future__ import annotations

from datetime import timedelta

from counseling_shared.codes import FollowUpKind
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import care_plan, changes
from followup.application.ports import FollowupStore
from followup.domain.followup import CancelReason, FollowUp

CLIENT_LOCK_WAIT = timedelta(milliseconds=500)
"""Below PostgreSQL's deadlock_timeout (1 s): the timer gives way before a deadlock is detected."""


async def follow_up_falls_due(
    uow: UnitOfWork, store: FollowupStore, state: FollowUp
) -> FollowUp | None:
    """Mark it due and emit `FollowUpDue` (with the client's channel), then plan the next
    check-in of a rolling series. The scheduler holds the row lock, so this runs once.
    Returns the follow-up that fell due, or None when it was withdrawn instead.

    Guards for races with a pause or a re-plan that committed while this row was being planned:
    a paused client's follow-up is withdrawn instead of falling due, and so is a check-in of a
    series that a later session replaced.
    """
    # The scheduler already holds this follow-up's lock, and changes of the client lock the
    # client first: wait for the client only briefly (ClientBusy: the scheduler retries later)
    # so that the two orders cannot deadlock, and read its state fresh under the lock.
    client = await store.client(state.client_id, for_update=True, lock_wait=CLIENT_LOCK_WAIT)
    if client is not None and client.preferences.paused:
        await changes.cancel(uow, store, state, CancelReason.PAUSED)
        return None
    if (
        state.kind is FollowUpKind.CHECKIN
        and client is not None
        and (client.session_id != state.session_id or not client.in_care)
    ):
        await changes.cancel(uow, store, state, CancelReason.SUPERSEDED)
        return None
    due = await changes.fall_due(uow, store, state, client)
    await care_plan.continue_series(uow, store, state, client)
    return due
