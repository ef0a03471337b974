"""Contact regularity in the write path: record contacts, fire the gap timer, hold outreach
during a cool-off. Every function runs in the caller's transaction, under the client's lock.

Rules (domain/regularity.py has the definitions):
- a completed session is a positive contact the client made (it also ends a cool-off early);
  a follow-up's outcome is classified by `classify_followup_answer`;
- the gap timer watches clients in care and not paused; it fires `max_contact_gap` after the
  last positive contact, plans one `regularity` outreach (none while one is still open) at a
  civil hour in the client's zone, and publishes `ContactGapDetected` for the counselor;
- a negative contact starts the cool-off and publishes `NegativeContactRecorded`; client
  outreach that falls due inside it is withdrawn (reason `cooloff`) and planned again at the
  cool-off's end, so it is deferred, never dropped and never sent twice. Risk flags and pages do
  not pass through here.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from counseling_shared.codes import FollowUpKind
from counseling_shared.events import ContactGapDetected, NegativeContactRecorded
from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application import changes
from followup.application.ports import FollowupStore
from followup.domain import regularity
from followup.domain.client_care import ClientCare
from followup.domain.followup import CancelReason, FollowUp
from followup.domain.regularity import Contact, Regularity

HELD_IN_COOLOFF = frozenset(
    {
        FollowUpKind.CHECKIN,
        FollowUpKind.NO_SHOW_OUTREACH,
        FollowUpKind.POST_CLOSURE,
        FollowUpKind.REGULARITY,
    }
)
"""Outreach to the client that a cool-off defers (crisis paths are never follow-ups)."""


def watched(client: ClientCare | None) -> bool:
    """The gap rule covers clients in care (episode open) who are not paused."""
    return client is not None and client.in_care and not client.preferences.paused


async def _state(store: FollowupStore, client_id: UUID) -> Regularity:
    return await store.regularity(client_id) or regularity.new(client_id)


async def _change(
    uow: UnitOfWork, store: FollowupStore, state: Regularity, events: list[regularity.Event]
) -> Regularity:
    if not events:
        return state
    await uow.append(
        state.stream_id, state.version, [NewEvent(*regularity.to_record(e)) for e in events]
    )
    for event in events:
        state = regularity.evolve(state, event)
    await store.save_regularity(state)
    return state


async def session_attended(
    uow: UnitOfWork,
    store: FollowupStore,
    client: ClientCare,
    completed_at: datetime,
    counselor_id: UUID,
) -> None:
    """A completed session: a positive contact the client made; re-arms the gap timer."""
    assert client.site_id is not None
    policy, _ = await store.policy(client.site_id)
    state = await _state(store, client.client_id)
    state = await _change(
        uow,
        store,
        state,
        regularity.record_positive(
            state,
            client.site_id,
            completed_at,
            policy.max_contact_gap,
            client_initiated=True,
            counselor_id=counselor_id,
        ),
    )
    if not watched(client):
        await left_care(uow, store, client)


async def followup_answered(
    uow: UnitOfWork,
    store: FollowupStore,
    completed: FollowUp,
    client: ClientCare | None,
    *,
    how_are_you: int | None = None,
) -> Contact:
    """A completed follow-up: positive re-arms the gap timer; negative starts the cool-off and
    tells the site's supervisors (`NegativeContactRecorded`). A client's own answer (outcome
    `responded`) passes its how-are-you score as `how_are_you`. Call under the client's lock."""
    contact = regularity.classify_followup_answer(
        completed.outcome.value if completed.outcome else "",
        satisfaction=completed.satisfaction,
        how_are_you=how_are_you,
    )
    if contact is Contact.NEUTRAL:
        return contact
    at = completed.completed_at or uow.now()
    policy, _ = await store.policy(completed.site_id)
    state = await _state(store, completed.client_id)
    if contact is Contact.POSITIVE:
        events = regularity.record_positive(
            state, completed.site_id, at, policy.max_contact_gap, client_initiated=False
        )
        state = await _change(uow, store, state, events)
        if not watched(client) and client is not None:
            await left_care(uow, store, client)
        return contact
    events = regularity.record_negative(
        state, completed.site_id, at, policy.negative_contact_cooloff
    )
    state = await _change(uow, store, state, events)
    uow.publish(
        NegativeContactRecorded(
            client_id=completed.client_id,
            site_id=completed.site_id,
            counselor_id=state.counselor_id,
            cooloff_until=state.cooloff_until,
        ),
        subject=completed.client_id,
    )
    return contact


async def left_care(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> None:
    """Closed or paused: the gap timer stops (a cool-off runs on; it only ever holds)."""
    state = await store.regularity(client.client_id)
    if state is not None:
        await _change(uow, store, state, regularity.stop_gap_timer(state, uow.now()))


async def back_in_care(uow: UnitOfWork, store: FollowupStore, client: ClientCare) -> None:
    """Resumed from a pause: a stopped gap timer is armed again, counted from now."""
    state = await store.regularity(client.client_id)
    if state is None or not watched(client):
        return  # no contact recorded yet: the next positive one arms the timer
    assert client.site_id is not None
    policy, _ = await store.policy(client.site_id)
    await _change(
        uow, store, state, regularity.arm_gap_timer(state, uow.now(), policy.max_contact_gap)
    )


async def gap_timer_fires(
    uow: UnitOfWork, store: FollowupStore, state: Regularity, client: ClientCare | None
) -> FollowUp | None:
    """The client went `max_contact_gap` without a positive contact. Returns the outreach
    planned (None when one was already open, or the client is no longer watched)."""
    if not watched(client):
        await _change(uow, store, state, regularity.stop_gap_timer(state, uow.now()))
        return None
    assert client is not None
    assert client.site_id is not None
    policy, _ = await store.policy(client.site_id)
    found = regularity.detect_gap(state, uow.now(), policy.max_contact_gap)
    if not found:
        return None  # re-armed by a contact since the scheduler read the row
    state = await _change(uow, store, state, found)
    uow.publish(
        ContactGapDetected(
            client_id=client.client_id,
            site_id=client.site_id,
            counselor_id=state.counselor_id,
            last_positive_contact_at=state.last_positive_at,
        ),
        subject=client.client_id,
    )
    if any(f.kind is FollowUpKind.REGULARITY for f in await store.open_followups(client.client_id)):
        return None
    due = regularity.at_civil_hour(uow.now(), client.zone)
    return await changes.plan(uow, store, client, FollowUpKind.REGULARITY, due)


async def defer_in_cooloff(
    uow: UnitOfWork, store: FollowupStore, state: FollowUp, client: ClientCare | None
) -> FollowUp | None:
    """Outreach falling due inside the client's cool-off: withdrawn and planned again at the
    cool-off's end (civil hour). Returns the re-planned follow-up, or None when not held."""
    if state.kind not in HELD_IN_COOLOFF or client is None:
        return None
    watch = await store.regularity(state.client_id)
    if watch is None or not watch.in_cooloff(uow.now()):
        return None
    until = watch.deferred(uow.now())
    assert until is not None
    await changes.cancel(uow, store, state, CancelReason.COOLOFF)
    return await changes.plan(
        uow,
        store,
        client,
        state.kind,
        regularity.at_civil_hour(until, client.zone),
        goal_horizon=state.goal_horizon,
        session_id=state.session_id,
    )
