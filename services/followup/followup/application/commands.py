"""Commands from the HTTP API: set a site's policy, set a client's preferences, complete a
follow-up. The caller's access is checked by the entry point against what is loaded here."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from counseling_shared.codes import RiskSource
from counseling_shared.events import FollowUpCompleted, RiskFlagged
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import care_plan, changes, regularity
from followup.application.ports import FollowupStore
from followup.domain import client_care, followup, site
from followup.domain.client_care import ClientCare
from followup.domain.followup import FollowUp, Status
from followup.domain.policy import FollowUpPolicy
from followup.domain.preferences import FollowUpPreferences

AccessCheck = Callable[[UUID | None], None]
"""Raises when the caller may not act on the given site (None: the site is not known yet)."""


class FollowUpNotFound(Exception):
    def __init__(self, followup_id: UUID) -> None:
        super().__init__(f"no follow-up {followup_id}")
        self.followup_id = followup_id


async def set_policy(
    uow: UnitOfWork, store: FollowupStore, site_id: UUID, policy: FollowUpPolicy
) -> FollowUpPolicy:
    """Replace the site's policy. Follow-ups already planned keep their due times."""
    _, version = await store.policy(site_id)
    event = site.PolicySet(policy)
    await uow.append(site.policy_stream_id(site_id), version, [NewEvent(*site.to_record(event))])
    await store.save_policy(site_id, policy, version + 1)
    return policy


async def set_preferences(
    uow: UnitOfWork,
    store: FollowupStore,
    client_id: UUID,
    preferences: FollowUpPreferences,
    check_access: AccessCheck,
) -> ClientCare:
    """Record the client's preferences and bring the plan in line with the new intensity."""
    client = await store.client(client_id, for_update=True) or client_care.new_client(client_id)
    check_access(client.site_id)
    before = client.preferences
    client = await changes.change_client(
        uow, store, client, client_care.set_preferences(client, preferences)
    )
    after = client.preferences
    if after.paused and not before.paused:
        await care_plan.pause(uow, store, client)
        await regularity.left_care(uow, store, client)
    elif before.paused and not after.paused:
        await care_plan.resume(uow, store, client)
        await regularity.back_in_care(uow, store, client)
    elif before.intensity != after.intensity:
        await care_plan.change_intensity(uow, store, client)
    return client


async def complete_followup(
    uow: UnitOfWork,
    store: FollowupStore,
    followup_id: UUID,
    command: followup.Complete,
    check_access: AccessCheck,
    *,
    how_are_you: int | None = None,
) -> FollowUp:
    """Record the outcome. A risk of `moderate` or above raises `RiskFlagged` (source followup);
    completing a check-in before it fell due keeps its series going. `how_are_you` is the
    client's own answer (1-5) when they answered the form: it counts for contact regularity."""
    # Lock order: the client before its follow-ups (as a pause does), then read both fresh,
    # so a pause racing this completion either sees the next check-in or stops it being planned.
    seen = await store.followup(followup_id)
    if seen is None:
        raise FollowUpNotFound(followup_id)
    check_access(seen.site_id)
    client = await store.client(seen.client_id, for_update=True)
    state = await store.followup(followup_id, for_update=True)
    assert state is not None, "follow-ups are never deleted"
    completed = await changes.change_followup(uow, store, state, command)
    assert completed is not None
    uow.publish(
        FollowUpCompleted(
            followup_id=completed.id,
            client_id=completed.client_id,
            site_id=completed.site_id,
            outcome=command.outcome,
        ),
        subject=completed.id,
    )
    if command.risk_level is not None and command.risk_level.needs_alert:
        flag_id = uuid4()
        uow.publish(
            RiskFlagged(
                flag_id=flag_id,
                client_id=completed.client_id,
                site_id=completed.site_id,
                level=command.risk_level,
                source=RiskSource.FOLLOWUP,
                flagged_at=uow.now(),
            ),
            subject=flag_id,
        )
    await regularity.followup_answered(uow, store, completed, client, how_are_you=how_are_you)
    if state.status is Status.SCHEDULED:
        await care_plan.continue_series(uow, store, state, client)
    return completed
