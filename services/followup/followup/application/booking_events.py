"""Handlers for booking's events. Each runs in the inbox consumer's transaction."""

from __future__ import annotations

from counseling_shared.codes import FollowUpKind
from counseling_shared.events import (
    CareEpisodeClosed,
    ClientContactChanged,
    ClientRegistered,
    SessionCompleted,
    SessionMissed,
    SiteRegistered,
)
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import care_plan, changes, regularity, reminders
from followup.application.ports import FollowupStore
from followup.domain import cadence, client_care, site
from followup.domain.appointments import AppointmentStatus
from followup.domain.followup import CancelReason

_POST_CLOSURE = frozenset({FollowUpKind.POST_CLOSURE})
# A closure ends the check-ins, not the sessions booking still holds: their reminders stay.
_CLOSED = frozenset(FollowUpKind) - {FollowUpKind.REMINDER}
# A new session re-plans check-ins; rating requests and reminders of other sessions stay.
_REPLANNED = frozenset(FollowUpKind) - {FollowUpKind.SATISFACTION, FollowUpKind.REMINDER}


async def site_registered(uow: UnitOfWork, store: FollowupStore, event: SiteRegistered) -> None:
    """Keep the site's zone: it stands in for clients whose own zone we do not know."""
    version = await store.site_version(event.site_id)
    recorded = site.SiteRecorded(event.timezone, event.locale)
    await uow.append(
        site.site_stream_id(event.site_id), version, [NewEvent(*site.to_record(recorded))]
    )
    await store.save_site(event.site_id, event.timezone, event.locale, version + 1)


async def client_registered(uow: UnitOfWork, store: FollowupStore, event: ClientRegistered) -> None:
    await changes.learn_client(
        uow, store, event.client_id, event.site_id, event.timezone, event.locale
    )


async def client_contact_changed(
    uow: UnitOfWork, store: FollowupStore, event: ClientContactChanged
) -> None:
    """booking corrected the client's details: keep their new zone and locale (follow-ups
    planned from now on use them)."""
    await changes.learn_client(
        uow, store, event.client_id, event.site_id, event.timezone, event.locale
    )


async def session_completed(uow: UnitOfWork, store: FollowupStore, event: SessionCompleted) -> None:
    """Re-anchor the client's plan on this session: open follow-ups are withdrawn and the first
    check-in of the new series is planned (nothing while paused). A session after the episode
    was closed is re-engagement: the post-closure check-ins still open are withdrawn as
    `reengaged`, and the reminders of the appointments still booked ahead are planned (those a
    closure withdrew before closures kept them)."""
    client = await changes.learn_client(uow, store, event.client_id, event.site_id)
    await reminders.appointment_ended(uow, store, event.appointment_id, AppointmentStatus.COMPLETED)
    # Every completed session (a late-reported one too) gets its one rating request.
    await care_plan.plan_satisfaction(uow, store, client, event)
    reengaged = client.episode_closed_on is not None
    anchored = client_care.anchor_session(
        client, event.appointment_id, event.completed_at, event.goal_horizon, event.counselor_id
    )
    if not anchored:
        return  # an older session reported late, or this one again
    client = await changes.change_client(uow, store, client, anchored)
    await regularity.session_attended(uow, store, client, event.completed_at, event.counselor_id)
    if client.preferences.paused:
        return
    if reengaged:
        await changes.cancel_open(
            uow, store, client.client_id, CancelReason.REENGAGED, kinds=_POST_CLOSURE
        )
        await reminders.plan_reminders_ahead(uow, store, client)
    # A rating request of an earlier session stays open: each session gets its own.
    await changes.cancel_open(
        uow, store, client.client_id, CancelReason.SESSION_COMPLETED, kinds=_REPLANNED
    )
    await care_plan.start_series(uow, store, client)


async def session_missed(uow: UnitOfWork, store: FollowupStore, event: SessionMissed) -> None:
    """A no-show plans an outreach `no_show_outreach_after` the missed start."""
    client = await changes.learn_client(uow, store, event.client_id, event.site_id)
    await reminders.appointment_ended(uow, store, event.appointment_id, AppointmentStatus.NO_SHOW)
    if client.preferences.paused:
        return
    policy, _ = await store.policy(event.site_id)
    due = cadence.no_show_outreach_due(event.start, policy, client.zone)
    await changes.plan(
        uow, store, client, FollowUpKind.NO_SHOW_OUTREACH, due, session_id=event.appointment_id
    )


async def care_episode_closed(
    uow: UnitOfWork, store: FollowupStore, event: CareEpisodeClosed
) -> None:
    """Closing the episode withdraws open follow-ups and plans the post-closure check-ins.
    Reminders stay: booking still holds those sessions (a cancellation withdraws them)."""
    client = await changes.learn_client(uow, store, event.client_id, event.site_id)
    ended = client_care.end_episode(client, event.effective_on, event.reason)
    if not ended:
        return
    client = await changes.change_client(uow, store, client, ended)
    await regularity.left_care(uow, store, client)
    if client.preferences.paused:
        return
    await changes.cancel_open(
        uow, store, client.client_id, CancelReason.EPISODE_CLOSED, kinds=_CLOSED
    )
    await care_plan.plan_post_closure(uow, store, client, event.effective_on)
