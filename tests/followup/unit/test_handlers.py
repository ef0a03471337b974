"""The application's handlers against an in-memory store: what is planned, cancelled, emitted."""

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from counseling_shared.clock import ControllableClock
from counseling_shared.codes import (
    Channel,
    ClosureReason,
    FollowUpKind,
    FollowUpOutcome,
    GoalHorizon,
    Intensity,
    RiskLevel,
    RiskSource,
)
from counseling_shared.events import (
    CareEpisodeClosed,
    ClientContactChanged,
    ClientRegistered,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpDue,
    FollowUpScheduled,
    IntegrationEvent,
    RiskFlagged,
    SessionCompleted,
    SessionMissed,
    SiteRegistered,
)
from counseling_shared.eventstore import NewEvent
from followup.application import booking_events, commands
from followup.application.timers import follow_up_falls_due
from followup.domain import client_care
from followup.domain.errors import FollowUpAlreadyClosed
from followup.domain.followup import CancelReason, Complete, FollowUp, Progress, Status
from followup.domain.preferences import FollowUpPreferences

from .fakes import InMemoryFollowupStore, RecordingUnitOfWork

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2025, 3, 3, 14, 0, tzinfo=PARIS)  # a Monday, 14:00 in Paris


class World:
    """One followup service in memory, driven event by event."""

    def __init__(self) -> None:
        self.clock = ControllableClock(START)
        self.store = InMemoryFollowupStore()
        self.streams: dict[str, list[NewEvent]] = {}
        self.bus: list[IntegrationEvent] = []
        self.site_id = uuid4()
        self.client_id = uuid4()

    def uow(self) -> RecordingUnitOfWork:
        return RecordingUnitOfWork(self.clock, self.streams)

    async def handle(self, event: IntegrationEvent) -> list[IntegrationEvent]:
        uow = self.uow()
        handlers = {
            SiteRegistered: booking_events.site_registered,
            ClientRegistered: booking_events.client_registered,
            ClientContactChanged: booking_events.client_contact_changed,
            SessionCompleted: booking_events.session_completed,
            SessionMissed: booking_events.session_missed,
            CareEpisodeClosed: booking_events.care_episode_closed,
        }
        await handlers[type(event)](uow, self.store, event)  # type: ignore[operator]
        return self.published(uow)

    def published(self, uow: RecordingUnitOfWork) -> list[IntegrationEvent]:
        events = uow.events()
        self.bus += events
        return events

    async def register(self, timezone: str = "Europe/Paris") -> None:
        await self.handle(
            ClientRegistered(
                client_id=self.client_id,
                site_id=self.site_id,
                locale="fr",
                timezone=timezone,
                preferred_channel=Channel.EMAIL,
            )
        )

    async def complete_session(
        self, at: datetime, horizon: GoalHorizon = GoalHorizon.SHORT_TERM
    ) -> list[IntegrationEvent]:
        return await self.handle(
            SessionCompleted(
                appointment_id=uuid4(),
                site_id=self.site_id,
                client_id=self.client_id,
                counselor_id=uuid4(),
                completed_at=at,
                goal_horizon=horizon,
                risk_level=RiskLevel.NONE,
            )
        )

    async def fire(self, followup: FollowUp) -> list[IntegrationEvent]:
        self.clock.set(followup.due_at)
        uow = self.uow()
        current = await self.store.followup(followup.id)
        assert current is not None
        await follow_up_falls_due(uow, self.store, current)
        return self.published(uow)

    async def prefer(
        self, intensity: Intensity, channel: Channel | None = None
    ) -> list[IntegrationEvent]:
        uow = self.uow()
        await commands.set_preferences(
            uow, self.store, self.client_id, FollowUpPreferences(channel, intensity), lambda _: None
        )
        return self.published(uow)

    async def complete(self, followup_id: UUID, command: Complete) -> list[IntegrationEvent]:
        uow = self.uow()
        await commands.complete_followup(uow, self.store, followup_id, command, lambda _: None)
        return self.published(uow)

    def followups(self, status: Status | None = None) -> list[FollowUp]:
        return self.store.of_client(self.client_id, status)


@pytest.fixture
async def world() -> World:
    w = World()
    await w.register()
    return w


async def test_a_completed_session_plans_the_first_check_in_a_week_later_in_the_clients_zone(
    world: World,
) -> None:
    emitted = await world.complete_session(START)
    [checkin] = world.followups()
    assert checkin.kind is FollowUpKind.CHECKIN
    assert checkin.due_at == datetime(2025, 3, 10, 14, 0, tzinfo=PARIS)
    assert emitted == [
        FollowUpScheduled(
            followup_id=checkin.id,
            client_id=world.client_id,
            site_id=world.site_id,
            kind=FollowUpKind.CHECKIN,
            due_at=checkin.due_at,
        )
    ]
    assert world.streams[f"followup-{checkin.id}"][0].type == "FollowUpPlanned"


async def test_a_due_check_in_emits_follow_up_due_with_the_channel_and_plans_the_next(
    world: World,
) -> None:
    await world.prefer(Intensity.STANDARD, Channel.SMS)
    await world.complete_session(START, GoalHorizon.LONG_TERM)
    [first] = world.followups()
    emitted = await world.fire(first)
    due, scheduled = emitted
    assert isinstance(due, FollowUpDue)
    assert (due.followup_id, due.channel) == (first.id, Channel.SMS)
    assert isinstance(scheduled, FollowUpScheduled)
    # long-term: one month after the previous due time, same wall-clock time
    assert scheduled.due_at == datetime(2025, 4, 10, 14, 0, tzinfo=PARIS)
    assert [f.status for f in world.followups()] == [Status.DUE, Status.SCHEDULED]


async def test_the_next_completed_session_cancels_open_check_ins_and_re_plans(world: World) -> None:
    await world.complete_session(START)
    [old] = world.followups()
    await world.fire(old)
    emitted = await world.complete_session(START + timedelta(days=8))
    cancelled = [e for e in emitted if isinstance(e, FollowUpCancelled)]
    assert len(cancelled) == 2  # the due one and the one after it
    [new] = world.followups(Status.SCHEDULED)
    assert new.due_at == datetime(2025, 3, 18, 14, 0, tzinfo=PARIS)


async def test_a_session_reported_after_a_later_one_changes_nothing(world: World) -> None:
    await world.complete_session(START)
    assert await world.complete_session(START - timedelta(days=7)) == []
    assert len(world.followups()) == 1


async def test_a_no_show_plans_an_outreach_24_hours_after_the_missed_start(world: World) -> None:
    emitted = await world.handle(
        SessionMissed(
            appointment_id=uuid4(),
            site_id=world.site_id,
            client_id=world.client_id,
            counselor_id=uuid4(),
            start=START,
        )
    )
    [outreach] = world.followups()
    assert outreach.kind is FollowUpKind.NO_SHOW_OUTREACH
    assert outreach.due_at - START == timedelta(hours=24)
    assert [type(e) for e in emitted] == [FollowUpScheduled]


async def test_closing_the_episode_cancels_check_ins_and_plans_post_closure_ones(
    world: World,
) -> None:
    await world.complete_session(START)
    emitted = await world.handle(
        CareEpisodeClosed(
            client_id=world.client_id,
            site_id=world.site_id,
            reason=ClosureReason.GOALS_MET,
            effective_on=date(2025, 3, 7),
            referred=False,
        )
    )
    assert [type(e) for e in emitted] == [FollowUpCancelled] + [FollowUpScheduled] * 3
    post = world.followups(Status.SCHEDULED)
    assert [f.kind for f in post] == [FollowUpKind.POST_CLOSURE] * 3
    assert [f.due_at.astimezone(PARIS).date() for f in post] == [
        date(2025, 3, 21),
        date(2025, 4, 7),
        date(2025, 6, 7),
    ]


async def test_a_paused_client_gets_nothing_planned_and_nothing_emitted(world: World) -> None:
    await world.prefer(Intensity.PAUSED)
    assert await world.complete_session(START) == []
    assert world.followups() == []


async def test_pausing_cancels_follow_ups_not_yet_due_and_keeps_due_ones(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.fire(first)
    emitted = await world.prefer(Intensity.PAUSED)
    assert [type(e) for e in emitted] == [FollowUpCancelled]
    statuses = {f.id: f.status for f in world.followups()}
    assert statuses[first.id] is Status.DUE
    assert sorted(statuses.values()) == [Status.CANCELLED, Status.DUE]
    [cancelled] = world.followups(Status.CANCELLED)
    assert cancelled.cancel_reason is CancelReason.PAUSED


async def test_resuming_continues_the_series_at_its_next_due_time_still_ahead(world: World) -> None:
    await world.complete_session(START)
    await world.prefer(Intensity.PAUSED)
    world.clock.set(START + timedelta(days=16))  # the 1st and 2nd check-ins passed while paused
    emitted = await world.prefer(Intensity.STANDARD)
    [scheduled] = emitted
    assert isinstance(scheduled, FollowUpScheduled)
    assert scheduled.due_at == datetime(2025, 3, 24, 14, 0, tzinfo=PARIS)


async def test_a_follow_up_falling_due_while_paused_is_cancelled_not_due(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    # The pause committed after the scheduler had read this row (a race): the guard cancels it.
    paused = client_care.evolve(
        world.store.clients[world.client_id],
        client_care.PreferencesSet(None, Intensity.PAUSED),
    )
    world.store.clients[world.client_id] = paused
    emitted = await world.fire(first)
    assert [type(e) for e in emitted] == [FollowUpCancelled]
    assert not any(isinstance(e, FollowUpDue) for e in world.bus)


async def test_light_intensity_re_plans_the_scheduled_check_in_on_a_doubled_interval(
    world: World,
) -> None:
    await world.complete_session(START)
    emitted = await world.prefer(Intensity.LIGHT)
    assert [type(e) for e in emitted] == [FollowUpCancelled, FollowUpScheduled]
    [scheduled] = world.followups(Status.SCHEDULED)
    assert scheduled.due_at == datetime(2025, 3, 17, 14, 0, tzinfo=PARIS)
    follow = await world.fire(scheduled)
    assert follow[-1].due_at == datetime(2025, 3, 31, 14, 0, tzinfo=PARIS)  # type: ignore[attr-defined]


async def test_an_outcome_with_moderate_risk_or_above_raises_risk_flagged(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.fire(first)
    emitted = await world.complete(
        first.id,
        Complete(FollowUpOutcome.REACHED, Progress("better", "nights", "call"), 3, RiskLevel.HIGH),
    )
    completed, flagged = emitted
    assert completed == FollowUpCompleted(
        followup_id=first.id,
        client_id=world.client_id,
        site_id=world.site_id,
        outcome=FollowUpOutcome.REACHED,
    )
    assert isinstance(flagged, RiskFlagged)
    assert (flagged.level, flagged.source, flagged.client_id) == (
        RiskLevel.HIGH,
        RiskSource.FOLLOWUP,
        world.client_id,
    )


async def test_an_outcome_with_low_risk_raises_no_flag_and_no_text_leaves(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    uow = world.uow()
    await commands.complete_followup(
        uow,
        world.store,
        first.id,
        Complete(FollowUpOutcome.REACHED, Progress("my secret words"), 5, RiskLevel.LOW),
        lambda _: None,
    )
    assert not any(isinstance(e, RiskFlagged) for e in uow.events())
    assert all(b"secret" not in envelope.encode() for envelope in uow.published)


async def test_completing_a_completed_follow_up_is_refused(world: World) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    await world.complete(first.id, Complete(FollowUpOutcome.DECLINED))
    with pytest.raises(FollowUpAlreadyClosed):
        await world.complete(first.id, Complete(FollowUpOutcome.REACHED))


async def test_completing_a_check_in_before_it_falls_due_keeps_the_series_going(
    world: World,
) -> None:
    await world.complete_session(START)
    [first] = world.followups()
    emitted = await world.complete(first.id, Complete(FollowUpOutcome.REACHED))
    assert [type(e) for e in emitted] == [FollowUpCompleted, FollowUpScheduled]
    [nxt] = world.followups(Status.SCHEDULED)
    assert nxt.due_at == first.due_at + timedelta(days=7)


async def test_a_client_first_seen_in_a_session_event_takes_the_sites_zone() -> None:
    w = World()
    await w.handle(
        SiteRegistered(site_id=w.site_id, name="Seoul", timezone="Asia/Seoul", locale="ko")
    )
    await w.complete_session(datetime(2025, 3, 3, 10, 0, tzinfo=UTC))
    [checkin] = w.followups()
    assert checkin.due_at.astimezone(ZoneInfo("Asia/Seoul")).hour == 19
    assert w.store.clients[w.client_id].timezone == "Asia/Seoul"


async def test_a_check_in_of_a_replaced_series_is_withdrawn_when_it_falls_due(
    world: World,
) -> None:
    await world.complete_session(START)
    [old] = world.followups()
    # A later session re-anchored the plan, but this row escaped the re-plan (a race).
    world.store.clients[world.client_id] = client_care.evolve(
        world.store.clients[world.client_id],
        client_care.SessionAnchored(uuid4(), START + timedelta(days=1), GoalHorizon.SHORT_TERM),
    )
    emitted = await world.fire(old)
    assert [type(e) for e in emitted] == [FollowUpCancelled]
    assert world.store.followups[old.id].cancel_reason is CancelReason.SUPERSEDED


async def test_an_episode_closed_while_paused_plans_post_closure_check_ins_on_resume(
    world: World,
) -> None:
    await world.complete_session(START)
    await world.prefer(Intensity.PAUSED)
    closed = CareEpisodeClosed(
        client_id=world.client_id,
        site_id=world.site_id,
        reason=ClosureReason.MOVED,
        effective_on=date(2025, 3, 5),
        referred=True,
    )
    assert await world.handle(closed) == []
    world.clock.set(datetime(2025, 3, 25, 12, 0, tzinfo=PARIS))  # the P14D one has passed
    emitted = await world.prefer(Intensity.STANDARD)
    assert [(e.kind, e.due_at.astimezone(PARIS).date()) for e in emitted] == [  # type: ignore[attr-defined]
        (FollowUpKind.POST_CLOSURE, date(2025, 4, 5)),
        (FollowUpKind.POST_CLOSURE, date(2025, 6, 5)),
    ]


async def test_a_client_with_an_unknown_zone_is_planned_in_utc() -> None:
    w = World()
    await w.register(timezone="Mars/Olympus_Mons")
    await w.complete_session(datetime(2025, 3, 3, 10, 0, tzinfo=UTC))
    [checkin] = w.followups()
    assert checkin.due_at == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)


async def test_a_corrected_zone_is_kept_and_plans_the_next_check_ins_there(world: World) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    await world.handle(
        ClientContactChanged(
            client_id=world.client_id,
            site_id=world.site_id,
            preferred_channel=Channel.SMS,
            locale="ko",
            timezone="Asia/Seoul",
        )
    )

    # Paris moves its clocks on 30 March; Seoul does not: a week in each zone differs by 1 h.
    await world.complete_session(datetime(2025, 3, 28, 22, 0, tzinfo=seoul))

    [checkin] = world.followups()
    kept = world.store.clients[world.client_id]
    assert (kept.timezone, kept.locale) == ("Asia/Seoul", "ko")
    assert checkin.due_at == datetime(2025, 4, 4, 22, 0, tzinfo=seoul)
