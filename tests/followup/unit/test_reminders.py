"""Reminders before appointments: planned on booking, moved on reschedule, withdrawn on
cancellation, never sent once the appointment has started (in-memory store, controllable clock)."""

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from counseling_shared.codes import FollowUpKind, Modality
from counseling_shared.envelope import Envelope, wrap
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    FollowUpCancelled,
    FollowUpDue,
    FollowUpScheduled,
    IntegrationEvent,
)
from followup.application import reminders
from followup.application.timers import follow_up_falls_due
from followup.domain.followup import FollowUp

from .test_handlers import PARIS, START, World


def booked(
    world: World,
    start: datetime,
    cls: type[AppointmentBooked] = AppointmentBooked,
    appointment_id: object = None,
    **extra: object,
) -> AppointmentBooked:
    return cls(
        appointment_id=appointment_id or uuid4(),
        site_id=world.site_id,
        client_id=world.client_id,
        counselor_id=uuid4(),
        room_id=None,
        start=start,
        end=start + timedelta(minutes=50),
        modality=Modality.ONLINE,
        **extra,
    )


async def run(
    world: World, event: AppointmentBooked, cause: Envelope | None = None
) -> list[IntegrationEvent]:
    """Handle `event`, as the inbox does when `cause` (its envelope) is given."""
    uow = world.uow()
    uow.cause = cause
    if isinstance(event, AppointmentCancelled):
        await reminders.appointment_cancelled(uow, world.store, event)
    elif isinstance(event, AppointmentRescheduled):
        await reminders.appointment_rescheduled(uow, world.store, event)
    else:
        await reminders.appointment_booked(uow, world.store, event)
    return world.published(uow)


async def test_a_booking_plans_reminders_a_day_and_two_hours_before_in_the_clients_zone() -> None:
    world = World()
    await world.register()
    start = datetime(2025, 3, 31, 9, 0, tzinfo=PARIS)  # the day after the spring DST change
    planned = await run(world, booked(world, start))
    assert [type(e) for e in planned] == [FollowUpScheduled, FollowUpScheduled]
    assert all(e.kind is FollowUpKind.REMINDER for e in planned if isinstance(e, FollowUpScheduled))
    dues = sorted(e.due_at for e in planned if isinstance(e, FollowUpScheduled))
    assert dues[0] == datetime(2025, 3, 30, 9, 0, tzinfo=PARIS)  # 09:00 the day before, local
    assert dues[1] == start - timedelta(hours=2)
    another = await run(world, booked(world, start))
    assert len(another) == 2  # another appointment at the same time: its own reminders


async def test_a_redelivered_booking_plans_nothing_twice() -> None:
    world = World()
    await world.register()
    event = booked(world, START + timedelta(days=3))
    assert len(await run(world, event)) == 2
    assert await run(world, event) == []


async def test_a_booking_plans_its_new_reminders_without_looking_a_follow_up_up_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A new follow-up's events and row are one statement; its row is read only when it exists.
    world = World()
    await world.register()
    look_ups: list[UUID] = []
    find = world.store.followup

    async def counted(followup_id: UUID, *, for_update: bool = False) -> FollowUp | None:
        look_ups.append(followup_id)
        return await find(followup_id, for_update=for_update)

    monkeypatch.setattr(world.store, "followup", counted)
    event = booked(world, START + timedelta(days=3))

    first = await run(world, event)
    assert (len(first), look_ups) == (2, [])
    assert await run(world, event) == []  # redelivered: each reminder is found, not planned
    assert len(look_ups) == 2


async def test_a_reschedule_moves_the_reminders_and_a_cancellation_withdraws_them() -> None:
    world = World()
    await world.register()
    appointment_id = uuid4()
    await run(world, booked(world, START + timedelta(days=3), appointment_id=appointment_id))
    later = START + timedelta(days=5)
    moved = await run(
        world, booked(world, later, AppointmentRescheduled, appointment_id=appointment_id)
    )
    assert [type(e) for e in moved] == [FollowUpCancelled] * 2 + [FollowUpScheduled] * 2
    new_dues = sorted(e.due_at for e in moved if type(e) is FollowUpScheduled)
    assert new_dues == [later - timedelta(days=1), later - timedelta(hours=2)]

    cancelled = await run(
        world,
        booked(
            world,
            later,
            AppointmentCancelled,
            appointment_id=appointment_id,
            cancelled_by="client",
            late=False,
        ),
    )
    assert [type(e) for e in cancelled] == [FollowUpCancelled] * 2
    assert await world.store.open_followups(world.client_id) == []


async def test_an_appointment_moved_back_to_a_start_it_had_gets_its_reminders_again() -> None:
    world = World()
    await world.register()
    appointment_id = uuid4()
    first, later = START + timedelta(days=3), START + timedelta(days=5)
    await run(world, booked(world, first, appointment_id=appointment_id))
    for start in (later, first):  # away, and back: each reschedule is its own event
        moved = booked(world, start, AppointmentRescheduled, appointment_id=appointment_id)
        await run(world, moved, cause=wrap(moved, source="booking", subject=appointment_id))

    planned = await world.store.open_followups(world.client_id)
    assert sorted(f.due_at for f in planned) == [
        first - timedelta(days=1),
        first - timedelta(hours=2),
    ]


async def test_a_reminder_whose_moment_passed_is_not_planned_the_later_one_is() -> None:
    world = World()
    await world.register()
    planned = await run(world, booked(world, START + timedelta(hours=3)))
    assert [e.due_at for e in planned if isinstance(e, FollowUpScheduled)] == [
        START + timedelta(hours=1)
    ]


async def test_a_reminder_falls_due_with_its_appointment_and_never_after_the_start() -> None:
    world = World()
    await world.register()
    start = START + timedelta(hours=3)
    await run(world, booked(world, start))
    [reminder] = await world.store.open_followups(world.client_id)
    [due] = await world.fire(reminder)
    assert isinstance(due, FollowUpDue)
    assert due.appointment_start == start

    late_start = START + timedelta(days=2, hours=3)
    await run(world, booked(world, late_start))
    late = [
        f
        for f in await world.store.open_followups(world.client_id)
        if f.appointment_start == late_start
    ]
    world.clock.set(late_start + timedelta(minutes=1))  # the scheduler was down until now
    current = await world.store.followup(late[0].id)
    assert current is not None
    uow = world.uow()
    assert await follow_up_falls_due(uow, world.store, current) is None
    assert [type(e) for e in world.published(uow)] == [FollowUpCancelled]


async def test_a_completed_session_keeps_the_reminders_of_the_next_appointment() -> None:
    world = World()
    await world.register()
    await run(world, booked(world, START + timedelta(days=7)))
    events = await world.complete_session(START)
    assert not any(isinstance(e, FollowUpCancelled) for e in events)
    kinds = {f.kind for f in await world.store.open_followups(world.client_id)}
    assert kinds == {FollowUpKind.REMINDER, FollowUpKind.CHECKIN}


async def test_a_reminder_carries_the_latest_manage_link_of_its_appointment() -> None:
    world = World()
    await world.register()
    appointment_id = uuid4()
    first, later = START + timedelta(hours=3), START + timedelta(hours=5)
    await run(world, booked(world, first, appointment_id=appointment_id, manage_url="https://b/1"))
    moved = booked(
        world,
        later,
        AppointmentRescheduled,
        appointment_id=appointment_id,
        manage_url="https://b/2",
    )
    await run(world, moved)
    [reminder] = await world.store.open_followups(world.client_id)
    [due] = await world.fire(reminder)
    assert isinstance(due, FollowUpDue)
    assert due.manage_url == "https://b/2"  # the first link names the old start: refused
    # The appointment it reminds of and its start: a C/X reply to the text acts on them.
    assert (due.appointment_id, due.appointment_start) == (appointment_id, later)
    plain = START + timedelta(hours=9)
    await run(world, booked(world, plain))  # published before booking minted links
    [older] = [
        f for f in await world.store.open_followups(world.client_id) if f.appointment_start == plain
    ]
    [without] = await world.fire(older)
    assert isinstance(without, FollowUpDue)
    assert without.manage_url is None
