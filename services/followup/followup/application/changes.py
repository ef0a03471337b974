"""The write path for followup's aggregates: decide → append → project → publish.

Every function runs inside the caller's unit of work (one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from counseling_shared.codes import FollowUpKind, GoalHorizon
from counseling_shared.events import FollowUpCancelled, FollowUpDue, FollowUpScheduled
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application.ports import FollowupStore, ResponseLinkMaker
from followup.domain import client_care, followup
from followup.domain.client_care import ClientCare
from followup.domain.followup import CancelReason, FollowUp


async def change_client(
    uow: UnitOfWork, store: FollowupStore, client: ClientCare, events: Sequence[client_care.Event]
) -> ClientCare:
    if not events:
        return client
    await uow.append(
        client.stream_id,
        client.version,
        [NewEvent(*client_care.to_record(e)) for e in events],
    )
    for event in events:
        client = client_care.evolve(client, event)
    await store.save_client(client)
    return client


async def learn_client(
    uow: UnitOfWork,
    store: FollowupStore,
    client_id: UUID,
    site_id: UUID,
    timezone: str | None = None,
    locale: str | None = None,
) -> ClientCare:
    """The client, locked; created from what the event says when followup has not met them.

    A client registered before followup's consumer existed (older than the stream's retention)
    is first seen in a session event: the site's zone stands in until booking says otherwise.
    """
    client = await store.client(client_id, for_update=True) or client_care.new_client(client_id)
    if client.site_id is None or timezone is not None:
        zone = timezone or client.timezone or await store.site_timezone(site_id)
        events = client_care.record(client, site_id, zone, locale or client.locale)
        client = await change_client(uow, store, client, events)
    return client


async def change_followup(
    uow: UnitOfWork,
    store: FollowupStore,
    state: FollowUp | None,
    command: followup.Command,
) -> FollowUp | None:
    """Decide and record one command; return the new state (None: nothing happened)."""
    events = followup.decide(state, command, uow.now())
    if not events:
        return None
    stream = followup.stream_id(command.followup_id) if isinstance(command, followup.Plan) else ""
    if state is not None:
        stream = state.stream_id
    await uow.append(
        stream,
        state.version if state else 0,
        [NewEvent(*followup.to_record(e)) for e in events],
    )
    for event in events:
        state = followup.evolve(state, event)
    assert state is not None
    await store.save_followup(state)
    return state


async def _add_new(
    uow: UnitOfWork, store: FollowupStore, command: followup.Plan
) -> FollowUp | None:
    """`command` decided as a new follow-up and written in one statement, unless one with its
    id exists (None: nothing written). Planning a new follow-up needs no look-up first."""
    events = followup.decide(None, command, uow.now())
    state: FollowUp | None = None
    for event in events:
        state = followup.evolve(state, event)
    assert state is not None
    records = [NewEvent(*followup.to_record(e)) for e in events]
    added = await store.add_followup(uow, followup.stream_id(command.followup_id), records, state)
    return state if added else None


async def plan(
    uow: UnitOfWork,
    store: FollowupStore,
    client: ClientCare,
    kind: FollowUpKind,
    due_at: datetime,
    *,
    goal_horizon: GoalHorizon | None = None,
    session_id: UUID | None = None,
    counselor_id: UUID | None = None,
    followup_id: UUID | None = None,
    appointment_start: datetime | None = None,
    manage_url: str | None = None,
) -> FollowUp | None:
    """Plan a follow-up; None when `followup_id` names one already planned (planning is
    idempotent)."""
    assert client.site_id is not None, "a follow-up belongs to a site"
    command = followup.Plan(
        followup_id or uuid4(),
        client.client_id,
        client.site_id,
        kind,
        due_at,
        goal_horizon,
        session_id,
        counselor_id,
        appointment_start,
        manage_url,
    )
    planned = await _add_new(uow, store, command)
    if planned is None and followup_id is not None:
        # Planned before (a derived id), or its stream begun meanwhile: decided on its state.
        planned = await change_followup(uow, store, await store.followup(followup_id), command)
    if planned is None:
        return None
    uow.publish(
        FollowUpScheduled(
            followup_id=planned.id,
            client_id=planned.client_id,
            site_id=planned.site_id,
            kind=planned.kind,
            due_at=planned.due_at,
        ),
        subject=planned.id,
    )
    return planned


async def cancel(
    uow: UnitOfWork, store: FollowupStore, state: FollowUp, reason: CancelReason
) -> None:
    cancelled = await change_followup(uow, store, state, followup.Cancel(reason))
    if cancelled is not None:
        uow.publish(
            FollowUpCancelled(
                followup_id=cancelled.id,
                client_id=cancelled.client_id,
                site_id=cancelled.site_id,
                kind=cancelled.kind,
                due_at=cancelled.due_at,
            ),
            subject=cancelled.id,
        )


async def cancel_open(
    uow: UnitOfWork,
    store: FollowupStore,
    client_id: UUID,
    reason: CancelReason,
    *,
    only_scheduled: bool = False,
    kinds: frozenset[FollowUpKind] | None = None,
) -> int:
    """Withdraw the client's open follow-ups (optionally only those not yet due, or some kinds)."""
    count = 0
    for state in await store.open_followups(client_id):
        if only_scheduled and state.status is not followup.Status.SCHEDULED:
            continue
        if kinds is not None and state.kind not in kinds:
            continue
        await cancel(uow, store, state, reason)
        count += 1
    return count


async def fall_due(
    uow: UnitOfWork,
    store: FollowupStore,
    state: FollowUp,
    client: ClientCare | None,
    links: ResponseLinkMaker | None = None,
) -> FollowUp:
    due = await change_followup(uow, store, state, followup.FallDue())
    assert due is not None
    channel = client.preferences.channel if client else None
    response_url = links.url_for(due, uow.now()) if links is not None else None
    uow.publish(
        FollowUpDue(
            followup_id=due.id,
            client_id=due.client_id,
            site_id=due.site_id,
            kind=due.kind,
            due_at=due.due_at,
            channel=channel,
            appointment_start=due.appointment_start,
            response_url=response_url,
            manage_url=due.manage_url,
            # A reminder's appointment (its session_id), so notify can map a C/X reply to it.
            appointment_id=due.session_id if due.kind is FollowUpKind.REMINDER else None,
        ),
        subject=due.id,
    )
    return due
