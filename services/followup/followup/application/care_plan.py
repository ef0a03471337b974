"""The follow-up plan of one client: which follow-ups exist, given their care and preferences.

Rules (contract, followup): a completed session plans the first check-in, and each check-in that
falls due (or is completed early) plans the next one of its series (a rolling plan: one check-in
open at a time; each due time counted from the series' anchor, never from the previous one), until
another session is completed (re-plan) or the episode closes (post-closure check-ins instead).
While a client is `paused`, nothing is planned or emitted; see `resume`.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid5

from counseling_shared.codes import FollowUpKind, GoalHorizon
from counseling_shared.events import SessionCompleted
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import changes, reminders
from followup.application.ports import FollowupStore
from followup.domain import cadence
from followup.domain.client_care import ClientCare
from followup.domain.durations import add_in_zone
from followup.domain.followup import CancelReason, FollowUp

CHECKINS = frozenset({FollowUpKind.CHECKIN})


async def start_series(
    uow: UnitOfWork, store: FollowupStore, client: ClientCare, *, resuming: bool = False
) -> FollowUp | None:
    """Plan the check-in series of the client's latest completed session.

    A fresh series starts `first_checkin_after` the session (even if that already passed, so a
    late event still yields a check-in); a resumed one starts at its first due time still ahead.
    """
    if not client.in_care or client.preferences.paused or client.site_id is None:
        return None
    assert client.session_completed_at is not None
    horizon = client.goal_horizon or GoalHorizon.SHORT_TERM
    policy, _ = await store.policy(client.site_id)
    if resuming:
        due = cadence.resumed_checkin_due(
            client.session_completed_at, policy, horizon, client.preferences, client.zone, uow.now()
        )
    else:
        due = cadence.first_checkin_due(
            client.session_completed_at, policy, client.preferences, client.zone
        )
    return await changes.plan(
        uow,
        store,
        client,
        FollowUpKind.CHECKIN,
        due,
        goal_horizon=horizon,
        session_id=client.session_id,
    )


async def continue_series(
    uow: UnitOfWork, store: FollowupStore, previous: FollowUp, client: ClientCare | None
) -> FollowUp | None:
    """Plan the check-in after `previous`, if its series is still the client's current one."""
    if (
        previous.kind is not FollowUpKind.CHECKIN
        or client is None
        or client.preferences.paused
        or not client.in_care
        or client.session_id != previous.session_id
    ):
        return None
    assert client.session_completed_at is not None, "a client in care has a completed session"
    policy, _ = await store.policy(previous.site_id)
    horizon = previous.goal_horizon or client.goal_horizon or GoalHorizon.SHORT_TERM
    due = cadence.next_checkin_ahead(
        client.session_completed_at,
        previous.due_at,
        policy,
        horizon,
        client.preferences,
        client.zone,
        uow.now(),
    )
    return await changes.plan(
        uow,
        store,
        client,
        FollowUpKind.CHECKIN,
        due,
        goal_horizon=horizon,
        session_id=client.session_id,
    )


async def plan_post_closure(
    uow: UnitOfWork,
    store: FollowupStore,
    client: ClientCare,
    effective_on: date,
    *,
    only_after: datetime | None = None,
) -> list[FollowUp]:
    """Plan the site's post-closure check-ins (when resuming, only those still ahead and new)."""
    if client.site_id is None or client.preferences.paused:
        return []
    policy, _ = await store.policy(client.site_id)
    existing = {
        f.due_at
        for f in await store.open_followups(client.client_id)
        if f.kind is FollowUpKind.POST_CLOSURE
    }
    planned = []
    for due in cadence.post_closure_dues(effective_on, policy, client.zone):
        if only_after is not None and (due <= only_after or due in existing):
            continue
        made = await changes.plan(uow, store, client, FollowUpKind.POST_CLOSURE, due)
        if made is not None:
            planned.append(made)
    return planned


async def plan_satisfaction(
    uow: UnitOfWork, store: FollowupStore, client: ClientCare, session: SessionCompleted
) -> FollowUp | None:
    """One rating request per completed session, `satisfaction_survey_after` it, when the site's
    policy asks for one. Its id is derived from the session, so a redelivered or late-reported
    session never plans a second."""
    if client.preferences.paused:
        return None
    policy, _ = await store.policy(session.site_id)
    if policy.satisfaction_survey_after is None:
        return None
    due = add_in_zone(session.completed_at, policy.satisfaction_survey_after, client.zone)
    return await changes.plan(
        uow,
        store,
        client,
        FollowUpKind.SATISFACTION,
        due,
        session_id=session.appointment_id,
        counselor_id=session.counselor_id,
        followup_id=satisfaction_id(session.appointment_id),
    )


def satisfaction_id(session_id: UUID) -> UUID:
    """The id of a session's one rating request (derived: a redelivery plans no second)."""
    return uuid5(session_id, FollowUpKind.SATISFACTION.value)


async def pause(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> int:
    """Pausing withdraws every follow-up not yet due (FollowUpCancelled, reason `paused`),
    reminders included: the contract's `paused` emits nothing (README, Reminders).

    Follow-ups already due stay open for staff to complete; nothing new is planned until the
    client resumes (see `resume`) or, after resuming, a session is completed.
    """
    return await changes.cancel_open(
        uow, store, client.client_id, CancelReason.PAUSED, only_scheduled=True
    )


async def resume(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> None:
    """Back from `paused`: the series of the latest session goes on from its next due time still
    ahead; after a closure, the post-closure check-ins still ahead are planned. Either way the
    reminders of the appointments still booked and ahead are planned again (the pause withdrew
    them)."""
    if client.in_care:
        await changes.cancel_open(
            uow,
            store,
            client.client_id,
            CancelReason.SUPERSEDED,
            only_scheduled=True,
            kinds=CHECKINS,
        )
        await start_series(uow, store, client, resuming=True)
    elif client.episode_closed_on is not None:
        await plan_post_closure(uow, store, client, client.episode_closed_on, only_after=uow.now())
    await reminders.plan_reminders_ahead(uow, store, client)


async def change_intensity(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> None:
    """Standard ↔ light: the scheduled check-in is re-planned on the new interval."""
    if not client.in_care:
        return
    withdrawn = await changes.cancel_open(
        uow,
        store,
        client.client_id,
        CancelReason.SUPERSEDED,
        only_scheduled=True,
        kinds=CHECKINS,
    )
    if withdrawn:
        await start_series(uow, store, client, resuming=True)
