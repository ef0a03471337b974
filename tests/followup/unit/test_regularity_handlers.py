"""Contact regularity through the application's handlers, against the in-memory store: what
each contact does to the gap timer and the cool-off, and what is published."""

from datetime import timedelta

import pytest

from counseling_shared.codes import FollowUpKind, FollowUpOutcome, Intensity, RiskLevel
from counseling_shared.events import (
    ContactGapDetected,
    FollowUpCancelled,
    FollowUpDue,
    FollowUpScheduled,
    NegativeContactRecorded,
    RiskFlagged,
)
from followup.application.timers import contact_gap_timer_fires
from followup.domain.followup import CancelReason, Complete, Status
from followup.domain.regularity import Regularity

from .test_handlers import START, World


@pytest.fixture
async def world() -> World:
    w = World()
    await w.register()
    return w


def _watch(world: World) -> Regularity:
    state = world.store.regularities.get(world.client_id)
    assert state is not None
    return state


async def _fire_gap(world: World) -> list[object]:
    state = _watch(world)
    assert state.gap_due_at is not None
    world.clock.set(state.gap_due_at)
    uow = world.uow()
    await contact_gap_timer_fires(uow, world.store, state)
    return list(world.published(uow))


async def test_a_completed_session_arms_the_gap_timer_ten_days_later(world: World) -> None:
    await world.complete_session(START)
    assert _watch(world).gap_due_at == START + timedelta(days=10)
    assert world.streams[f"regularity-{world.client_id}"][0].type == "PositiveContactRecorded"


async def test_the_gap_firing_plans_one_regularity_outreach_and_tells_the_counselor(
    world: World,
) -> None:
    await world.complete_session(START)
    emitted = await _fire_gap(world)
    gap = [e for e in emitted if isinstance(e, ContactGapDetected)]
    planned = [e for e in emitted if type(e) is FollowUpScheduled]
    assert [g.last_positive_contact_at for g in gap] == [START]
    assert [p.kind for p in planned] == [FollowUpKind.REGULARITY]
    # The next gap, while that outreach is still open, tells the counselor again but plans
    # no second outreach.
    again = await _fire_gap(world)
    assert [type(e) for e in again] == [ContactGapDetected]


async def test_a_paused_client_is_not_chased_and_resuming_counts_the_gap_from_then(
    world: World,
) -> None:
    await world.complete_session(START)
    world.clock.set(START + timedelta(days=2))
    await world.prefer(Intensity.PAUSED)
    assert _watch(world).gap_due_at is None
    world.clock.set(START + timedelta(days=30))
    await world.prefer(Intensity.STANDARD)
    assert _watch(world).gap_due_at == START + timedelta(days=40)


async def test_a_closed_episode_stops_the_timer(world: World) -> None:
    from counseling_shared.codes import ClosureReason
    from counseling_shared.events import CareEpisodeClosed

    await world.complete_session(START)
    await world.handle(
        CareEpisodeClosed(
            client_id=world.client_id,
            site_id=world.site_id,
            reason=ClosureReason.GOALS_MET,
            effective_on=(START + timedelta(days=1)).date(),
            referred=False,
        )
    )
    assert _watch(world).gap_due_at is None


@pytest.mark.parametrize(
    ("outcome", "satisfaction"),
    [(FollowUpOutcome.DECLINED, None), (FollowUpOutcome.REACHED, 2)],
)
async def test_a_negative_contact_starts_the_cooloff_and_tells_the_supervisors(
    world: World, outcome: FollowUpOutcome, satisfaction: int | None
) -> None:
    await world.complete_session(START)
    [checkin] = world.followups()
    await world.fire(checkin)
    emitted = await world.complete(checkin.id, Complete(outcome, satisfaction=satisfaction))
    [negative] = [e for e in emitted if isinstance(e, NegativeContactRecorded)]
    assert negative.cooloff_until == checkin.due_at + timedelta(days=14)
    assert _watch(world).in_cooloff(checkin.due_at + timedelta(days=13))


async def test_not_reached_is_neither_positive_nor_negative(world: World) -> None:
    await world.complete_session(START)
    before = _watch(world)
    [checkin] = world.followups()
    await world.fire(checkin)
    emitted = await world.complete(checkin.id, Complete(FollowUpOutcome.NOT_REACHED))
    assert not [e for e in emitted if isinstance(e, NegativeContactRecorded)]
    assert _watch(world) == before


async def test_a_check_in_due_in_the_cooloff_is_deferred_to_its_end_and_falls_due_once(
    world: World,
) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.fire(first)  # plans the next check-in a week later
    await world.complete(first.id, Complete(FollowUpOutcome.DECLINED))
    [second] = world.followups(Status.SCHEDULED)
    cooloff_until = _watch(world).cooloff_until
    assert cooloff_until is not None
    assert second.due_at < cooloff_until

    emitted = await world.fire(second)
    assert not [e for e in emitted if isinstance(e, FollowUpDue)]
    [withdrawn] = [e for e in emitted if isinstance(e, FollowUpCancelled)]
    [moved] = [e for e in emitted if type(e) is FollowUpScheduled]
    assert withdrawn.followup_id == second.id
    assert world.store.followups[second.id].cancel_reason is CancelReason.COOLOFF
    assert (moved.kind, moved.due_at) == (FollowUpKind.CHECKIN, cooloff_until)

    [replanned] = world.followups(Status.SCHEDULED)
    emitted = await world.fire(replanned)
    assert [e.followup_id for e in emitted if isinstance(e, FollowUpDue)] == [replanned.id]


async def test_a_session_the_client_attended_ends_the_cooloff_early(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.fire(first)
    await world.complete(first.id, Complete(FollowUpOutcome.DECLINED))
    await world.complete_session(first.due_at + timedelta(days=2))
    assert not _watch(world).in_cooloff(first.due_at + timedelta(days=3))


async def test_a_risk_reported_with_a_decline_is_flagged_in_the_same_change(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.fire(first)
    emitted = await world.complete(
        first.id, Complete(FollowUpOutcome.DECLINED, risk_level=RiskLevel.HIGH)
    )
    assert [type(e) for e in emitted if isinstance(e, RiskFlagged | NegativeContactRecorded)] == [
        RiskFlagged,
        NegativeContactRecorded,
    ]
