"""Reminders come back: resuming after a pause, and re-engaging after a closure, plan the
reminders of the appointments still booked and still ahead (in-memory store, controllable
clock); the pure decisions of `domain.appointments` on their own."""

from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import ClosureReason, FollowUpKind, GoalHorizon, Intensity, RiskLevel
from counseling_shared.envelope import wrap
from counseling_shared.events import (
    AppointmentCancelled,
    AppointmentRescheduled,
    CareEpisodeClosed,
    FollowUpCancelled,
    FollowUpDue,
    FollowUpScheduled,
    SessionCompleted,
    SessionMissed,
)
from followup.application import changes, reminders
from followup.domain import appointments
from followup.domain.appointments import (
    Appointment,
    AppointmentEnded,
    AppointmentRecorded,
    AppointmentStatus,
    Slot,
)
from followup.domain.durations import parse_duration
from followup.domain.followup import CancelReason, FollowUp, Status

from .test_handlers import PARIS, START, World
from .test_reminders import booked, run

DAY, TWO_HOURS = parse_duration("P1D"), parse_duration("PT2H")
MONDAY = START  # 2025-03-03 14:00 Paris
WEDNESDAY = datetime(2025, 3, 5, 9, 0, tzinfo=PARIS)
FRIDAY = datetime(2025, 3, 7, 10, 0, tzinfo=PARIS)


def _appointment(
    start: datetime, status: AppointmentStatus = AppointmentStatus.BOOKED
) -> Appointment:
    return Appointment(uuid4(), uuid4(), uuid4(), uuid4(), start, status, 1)


def _reminder(status: Status, reason: CancelReason | None = None) -> FollowUp:
    return FollowUp(
        uuid4(), uuid4(), uuid4(), FollowUpKind.REMINDER, FRIDAY, status, 2, cancel_reason=reason
    )


# --- the pure decisions ----------------------------------------------------------------------


def test_reminders_ahead_are_those_of_booked_appointments_whose_moment_has_not_passed() -> None:
    friday = _appointment(FRIDAY)
    thursday_noon = datetime(2025, 3, 6, 12, 0, tzinfo=PARIS)
    ahead = appointments.reminders_ahead(
        [
            friday,
            _appointment(FRIDAY, AppointmentStatus.CANCELLED),
            _appointment(FRIDAY, AppointmentStatus.COMPLETED),
            _appointment(thursday_noon - timedelta(minutes=1)),  # started already
        ],
        [DAY, TWO_HOURS],
        PARIS,
        thursday_noon,
    )
    # The day-before moment (Thursday 10:00) has passed: only the two-hour one is left.
    assert ahead == [(friday, TWO_HOURS, FRIDAY - timedelta(hours=2))]


def test_a_day_before_is_the_same_wall_clock_time_across_a_dst_change() -> None:
    monday_after_dst = _appointment(datetime(2025, 3, 31, 9, 0, tzinfo=PARIS))
    [(_, _, due)] = appointments.reminders_ahead([monday_after_dst], [DAY], PARIS, MONDAY)
    assert due == datetime(2025, 3, 30, 9, 0, tzinfo=PARIS)  # 23 elapsed hours before


def test_a_reminder_withdrawn_by_a_pause_or_a_closure_is_planned_again_under_a_new_id() -> None:
    assert appointments.slot(None) is Slot.FREE
    assert appointments.slot(_reminder(Status.CANCELLED, CancelReason.PAUSED)) is Slot.NEXT
    assert appointments.slot(_reminder(Status.CANCELLED, CancelReason.EPISODE_CLOSED)) is Slot.NEXT
    # Open, sent, or withdrawn for good (moved, cancelled, started): nothing to plan again.
    assert appointments.slot(_reminder(Status.SCHEDULED)) is Slot.TAKEN
    assert appointments.slot(_reminder(Status.DUE)) is Slot.TAKEN
    for reason in (CancelReason.RESCHEDULED, CancelReason.APPOINTMENT_CANCELLED):
        assert appointments.slot(_reminder(Status.CANCELLED, reason)) is Slot.TAKEN
    assert appointments.slot(_reminder(Status.CANCELLED, CancelReason.STARTED)) is Slot.TAKEN


def test_an_appointment_is_recorded_once_moved_while_booked_and_ended_once() -> None:
    appointment_id, client_id, site_id, counselor = uuid4(), uuid4(), uuid4(), uuid4()
    recorded = AppointmentRecorded(client_id, site_id, counselor, FRIDAY)
    [event] = appointments.book(None, recorded)
    state = appointments.evolve(None, appointment_id, event)
    assert appointments.book(state, recorded) == []  # redelivered
    moved = AppointmentRecorded(client_id, site_id, counselor, FRIDAY + timedelta(days=1), uuid4())
    state = appointments.evolve(state, appointment_id, appointments.move(state, moved)[0])
    assert (state.start, state.moved_by, state.version) == (moved.start, moved.moved_by, 2)
    assert appointments.move(state, moved) == []  # redelivered
    [ended] = appointments.end(state, AppointmentStatus.CANCELLED)
    state = appointments.evolve(state, appointment_id, ended)
    assert appointments.end(state, AppointmentStatus.COMPLETED) == []
    assert appointments.move(state, recorded) == []  # a cancelled one stays cancelled
    assert appointments.end(None, AppointmentStatus.NO_SHOW) == []  # never seen: nothing
    for event in (recorded, moved, AppointmentEnded(AppointmentStatus.NO_SHOW)):
        assert appointments.from_record(*appointments.to_record(event)) == event


# --- through the handlers --------------------------------------------------------------------


@pytest.fixture
async def world() -> World:
    w = World()
    await w.register()
    return w


async def _book_friday(world: World) -> UUID:
    event = booked(world, FRIDAY)
    await run(world, event)
    return event.appointment_id


def _reminders(world: World, status: Status | None = None) -> list[FollowUp]:
    return [f for f in world.followups(status) if f.kind is FollowUpKind.REMINDER]


async def test_pause_monday_resume_wednesday_the_friday_reminders_come_back_and_fall_due(
    world: World,
) -> None:
    appointment_id = await _book_friday(world)
    first = _reminders(world, Status.SCHEDULED)
    assert len(first) == 2
    paused = await world.prefer(Intensity.PAUSED)  # Monday
    assert [type(e) for e in paused] == [FollowUpCancelled] * 2

    world.clock.set(WEDNESDAY)
    resumed = await world.prefer(Intensity.STANDARD)
    planned = sorted(
        (e for e in resumed if isinstance(e, FollowUpScheduled)), key=lambda e: e.due_at
    )
    assert [e.due_at for e in planned] == [
        datetime(2025, 3, 6, 10, 0, tzinfo=PARIS),  # Thursday, same wall-clock time
        FRIDAY - timedelta(hours=2),
    ]
    # Deterministic ids: the next of each withdrawn reminder's chain.
    withdrawn = {f.due_at: f.id for f in first}
    for event, offset in zip(planned, (DAY, TWO_HOURS), strict=True):
        expected = reminders.reminder_id(appointment_id, offset, FRIDAY, withdrawn[event.due_at])
        assert event.followup_id == expected

    [thursday, _] = sorted(_reminders(world, Status.SCHEDULED), key=lambda f: f.due_at)
    [due] = await world.fire(thursday)
    assert isinstance(due, FollowUpDue)
    assert (due.kind, due.appointment_start) == (FollowUpKind.REMINDER, FRIDAY)


async def test_resuming_after_a_reminders_moment_plans_only_the_later_one(world: World) -> None:
    await _book_friday(world)
    await world.prefer(Intensity.PAUSED)
    world.clock.set(datetime(2025, 3, 6, 12, 0, tzinfo=PARIS))  # Thursday noon
    resumed = await world.prefer(Intensity.STANDARD)
    assert [e.due_at for e in resumed if isinstance(e, FollowUpScheduled)] == [
        FRIDAY - timedelta(hours=2)
    ]


async def test_a_booking_while_paused_gets_the_ids_its_booking_would_have_given(
    world: World,
) -> None:
    await world.prefer(Intensity.PAUSED)
    event = booked(world, FRIDAY)
    assert await run(world, event) == []  # paused: recorded, nothing planned
    resumed = await world.prefer(Intensity.STANDARD)
    assert {e.followup_id for e in resumed if isinstance(e, FollowUpScheduled)} == {
        reminders.reminder_id(event.appointment_id, offset, FRIDAY) for offset in (DAY, TWO_HOURS)
    }


async def test_only_appointments_still_booked_are_reminded_after_a_resume(world: World) -> None:
    await world.prefer(Intensity.PAUSED)
    kept, moved, cancelled, attended = (booked(world, FRIDAY + timedelta(days=n)) for n in range(4))
    for event in (kept, moved, cancelled, attended):
        await run(world, event)
    later = FRIDAY + timedelta(days=9)
    move = booked(world, later, AppointmentRescheduled, appointment_id=moved.appointment_id)
    await run(world, move, cause=wrap(move, source="booking", subject=move.appointment_id))
    await run(
        world,
        booked(
            world,
            cancelled.start,
            AppointmentCancelled,
            appointment_id=cancelled.appointment_id,
            cancelled_by="client",
            late=False,
        ),
    )
    await world.handle(
        SessionMissed(
            appointment_id=attended.appointment_id,
            site_id=world.site_id,
            client_id=world.client_id,
            counselor_id=attended.counselor_id,
            start=attended.start,
        )
    )
    await world.prefer(Intensity.STANDARD)
    starts = {f.appointment_start for f in _reminders(world, Status.SCHEDULED)}
    assert sorted(s for s in starts if s is not None) == [
        FRIDAY,
        later,
    ]
    assert world.store.appointments[attended.appointment_id].status is AppointmentStatus.NO_SHOW


async def test_pausing_twice_and_a_repeated_resume_plan_each_reminder_once(world: World) -> None:
    await _book_friday(world)
    for _ in range(2):
        await world.prefer(Intensity.PAUSED)
        await world.prefer(Intensity.STANDARD)
    assert len(_reminders(world, Status.SCHEDULED)) == 2
    client = await world.store.client(world.client_id)
    assert client is not None
    assert await reminders.plan_reminders_ahead(world.uow(), world.store, client) == 0


async def test_a_pause_still_withdraws_reminders(world: World) -> None:
    # The contract's `paused` emits nothing (README, Reminders): no reminder while paused.
    await _book_friday(world)
    await world.prefer(Intensity.PAUSED)
    assert _reminders(world, Status.SCHEDULED) == []
    assert {f.cancel_reason for f in _reminders(world)} == {CancelReason.PAUSED}


async def _close(world: World) -> None:
    await world.handle(
        CareEpisodeClosed(
            client_id=world.client_id,
            site_id=world.site_id,
            reason=ClosureReason.GOALS_MET,
            effective_on=date(2025, 3, 3),
            referred=False,
        )
    )


async def _reengage(world: World) -> list[object]:
    return list(
        await world.handle(
            SessionCompleted(
                appointment_id=uuid4(),
                site_id=world.site_id,
                client_id=world.client_id,
                counselor_id=uuid4(),
                completed_at=world.clock.now(),
                goal_horizon=GoalHorizon.SHORT_TERM,
                risk_level=RiskLevel.NONE,
            )
        )
    )


async def test_a_closure_keeps_the_reminders_of_sessions_booking_still_holds(world: World) -> None:
    await world.complete_session(MONDAY - timedelta(days=7))
    await _book_friday(world)
    await _close(world)
    assert len(_reminders(world, Status.SCHEDULED)) == 2
    kinds = {f.kind for f in world.followups(Status.SCHEDULED)}
    assert kinds == {FollowUpKind.REMINDER, FollowUpKind.POST_CLOSURE}


async def test_re_engaging_plans_again_the_reminders_a_closure_withdrew(world: World) -> None:
    # Closures before this change withdrew reminders too: re-engagement brings them back.
    await world.complete_session(MONDAY - timedelta(days=7))
    await _book_friday(world)
    await _close(world)
    uow = world.uow()
    for state in _reminders(world, Status.SCHEDULED):
        await changes.cancel(uow, world.store, state, CancelReason.EPISODE_CLOSED)
    world.clock.set(WEDNESDAY)
    await _reengage(world)
    scheduled = _reminders(world, Status.SCHEDULED)
    assert sorted(f.due_at for f in scheduled) == [
        datetime(2025, 3, 6, 10, 0, tzinfo=PARIS),
        FRIDAY - timedelta(hours=2),
    ]


async def test_paused_through_a_closure_the_resume_brings_the_reminders_back(
    world: World,
) -> None:
    await world.complete_session(MONDAY - timedelta(days=7))
    await _book_friday(world)
    await world.prefer(Intensity.PAUSED)
    await _close(world)
    world.clock.set(WEDNESDAY)
    await world.prefer(Intensity.STANDARD)
    assert len(_reminders(world, Status.SCHEDULED)) == 2


async def test_re_engaging_with_its_reminders_still_open_looks_no_reminder_up_by_id(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch has the client's open follow-ups loaded, not every id of a reminder's chain.
    await world.complete_session(MONDAY - timedelta(days=7))
    await _book_friday(world)
    await _close(world)
    looked_up: list[UUID] = []
    find = world.store.followup

    async def counted(followup_id: UUID, *, for_update: bool = False) -> FollowUp | None:
        looked_up.append(followup_id)
        return await find(followup_id, for_update=for_update)

    monkeypatch.setattr(world.store, "followup", counted)
    world.clock.set(WEDNESDAY)
    await _reengage(world)
    assert looked_up == []
    assert len(_reminders(world, Status.SCHEDULED)) == 2


async def test_a_reminder_planned_again_carries_the_manage_link_of_its_booking(
    world: World,
) -> None:
    link = "https://booking.example/appointments/manage?token=signed"
    await run(world, booked(world, FRIDAY, manage_url=link))
    await world.prefer(Intensity.PAUSED)
    world.clock.set(WEDNESDAY)
    await world.prefer(Intensity.STANDARD)
    assert [f.manage_url for f in _reminders(world, Status.SCHEDULED)] == [link, link]
