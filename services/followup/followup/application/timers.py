"""What happens when a follow-up's `due_at` arrives (called by the durable scheduler)."""

from __future__ import annotations

from datetime import timedelta

from counseling_shared.codes import FollowUpKind
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import care_plan, changes, regularity
from followup.application.ports import FollowupStore, ResponseLinkMaker
from followup.domain.followup import CancelReason, FollowUp
from followup.domain.regularity import Regularity

CLIENT_LOCK_WAIT = timedelta(milliseconds=500)
"""Below PostgreSQL's deadlock_timeout (1 s): the timer gives way before a deadlock is detected."""


async def follow_up_falls_due(
    uow: UnitOfWork,
    store: FollowupStore,
    state: FollowUp,
    links: ResponseLinkMaker | None = None,
) -> FollowUp | None:
    """Mark it due and emit `FollowUpDue` (with the client's channel and, given `links`, the
    signed link to the client's answer form), then plan the next
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
    started = state.appointment_start is not None and state.appointment_start <= uow.now()
    if state.kind is FollowUpKind.REMINDER and started:
        await changes.cancel(uow, store, state, CancelReason.STARTED)  # never after the start
        return None
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
    if await regularity.defer_in_cooloff(uow, store, state, client) is not None:
        return None  # a cool-off holds it: planned again at its end
    due = await changes.fall_due(uow, store, state, client, links)
    await care_plan.continue_series(uow, store, state, client)
    return due


async def contact_gap_timer_fires(
    uow: UnitOfWork, store: FollowupStore, state: Regularity
) -> FollowUp | None:
    """A client's gap timer is due (the scheduler holds its row lock): wait for the client
    only briefly, as above, then plan the `regularity` outreach and tell the counselor."""
    client = await store.client(state.client_id, for_update=True, lock_wait=CLIENT_LOCK_WAIT)
    fresh = await store.regularity(state.client_id)
    return await regularity.gap_timer_fires(uow, store, fresh or state, client)
