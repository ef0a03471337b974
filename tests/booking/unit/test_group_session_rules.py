"""The GroupSession aggregate's decisions: scheduling, seats, moving and cancelling a group."""

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain import appointment, group_session
from booking.domain.appointment import BookAppointment, RescheduleAppointment
from booking.domain.errors import InvalidCommand, NotAllowedNow
from booking.domain.group_session import (
    AlreadySeated,
    CancelGroupSession,
    GroupFull,
    GroupSession,
    GroupSessionStatus,
    RescheduleGroupSession,
    ScheduleGroupSession,
)
from booking.domain.site import Site
from counseling_shared.codes import CancelledBy, Modality
from tests.booking.unit.builders import NOW, a_client, a_room, a_site, a_staff_member, fold

START = NOW + timedelta(days=2)


def a_group(capacity: int = 3, at: Site | None = None) -> GroupSession:
    at = at or a_site()
    counselor, room = a_staff_member(at), a_room(at)
    command = ScheduleGroupSession(
        counselor.id, START, Modality.IN_PERSON, capacity, room_id=room.id, duration_minutes=90
    )
    events = group_session.schedule(command, uuid4(), counselor, room, NOW)
    state = None
    for event in events:
        state = group_session.evolve(state, event)
    assert state is not None
    return state


def test_scheduling_takes_the_counselors_site_and_the_length() -> None:
    group = a_group(capacity=12)

    assert group.status is GroupSessionStatus.BOOKED
    assert group.end == START + timedelta(minutes=90)
    assert group.capacity == 12
    assert group.version == 1


@pytest.mark.parametrize("capacity", [-1, 0, 1, 16, 100])
def test_a_capacity_outside_2_to_15_is_refused(capacity: int) -> None:
    at = a_site()
    counselor = a_staff_member(at)
    command = ScheduleGroupSession(counselor.id, START, Modality.ONLINE, capacity)

    with pytest.raises(InvalidCommand) as refused:
        group_session.schedule(command, uuid4(), counselor, None, NOW)

    assert set(refused.value.errors) == {"capacity"}


def test_in_person_needs_a_room_and_the_usual_time_rules_apply() -> None:
    at = a_site()
    counselor = a_staff_member(at)
    command = ScheduleGroupSession(
        counselor.id, NOW - timedelta(hours=1), Modality.IN_PERSON, 4, duration_minutes=5
    )

    with pytest.raises(InvalidCommand) as refused:
        group_session.schedule(command, uuid4(), counselor, None, NOW)

    assert set(refused.value.errors) == {"room_id", "start", "duration_minutes"}


def test_a_room_of_another_site_is_refused() -> None:
    counselor, elsewhere = a_staff_member(a_site()), a_room(a_site())
    command = ScheduleGroupSession(counselor.id, START, Modality.IN_PERSON, 4, room_id=elsewhere.id)

    with pytest.raises(InvalidCommand) as refused:
        group_session.schedule(command, uuid4(), counselor, elsewhere, NOW)

    assert set(refused.value.errors) == {"room_id"}


@given(capacity=st.integers(2, 15), seated=st.integers(0, 20))
def test_a_seat_is_given_only_while_one_is_free(capacity: int, seated: int) -> None:
    group = a_group(capacity)
    holders = {uuid4() for _ in range(seated)}

    if seated >= capacity:
        with pytest.raises(GroupFull):
            group_session.check_seat(group, uuid4(), holders)
    else:
        group_session.check_seat(group, uuid4(), holders)
    assert group_session.seats_left(group, seated) == max(capacity - seated, 0)


def test_a_client_already_seated_is_refused() -> None:
    group = a_group()
    seated = uuid4()

    with pytest.raises(AlreadySeated):
        group_session.check_seat(group, seated, {seated})


def test_a_seat_is_the_groups_time_room_and_counselor_for_one_client() -> None:
    group = a_group()
    who = uuid4()

    seat = group_session.seat_booking(group, who)

    assert seat == BookAppointment(
        group.counselor_id,
        who,
        group.start,
        group.modality,
        room_id=group.room_id,
        duration_minutes=90,
        group_session_id=group.id,
    )


def test_a_seats_appointment_names_its_group_and_refuses_a_move_alone() -> None:
    at = a_site()
    group = a_group(at=at)
    counselor, room, who = a_staff_member(at), a_room(at), a_client(at)
    command = BookAppointment(
        counselor.id,
        who.id,
        START,
        Modality.IN_PERSON,
        room_id=room.id,
        group_session_id=group.id,
    )
    seat = fold(None, appointment.book(command, uuid4(), counselor, who, room, NOW))

    assert seat.group_session_id == group.id
    with pytest.raises(NotAllowedNow, match="move the group"):
        appointment.reschedule(seat, RescheduleAppointment(START + timedelta(days=1)), None, NOW)
    moved = fold(
        seat,
        appointment.move_with_group(seat, group.slot, group.room_id, NOW),
    )
    assert moved.slot == group.slot
    assert moved.confirmed_at is None


def test_rescheduling_moves_the_group_and_keeps_the_room_unless_named() -> None:
    group = a_group()
    later = START + timedelta(days=1)

    events = group_session.reschedule(group, RescheduleGroupSession(later), None, NOW)
    moved = group_session.evolve(group, events[0])

    assert moved.start == later
    assert moved.slot.minutes == 90
    assert moved.room_id == group.room_id
    assert moved.version == 2


def test_a_cancelled_group_gives_no_seat_and_cannot_move_or_cancel_again() -> None:
    group = a_group()
    command = CancelGroupSession("Counselor ill", CancelledBy.CENTER)
    cancelled = group_session.evolve(group, group_session.cancel(group, command, NOW)[0])

    assert cancelled.status is GroupSessionStatus.CANCELLED
    assert cancelled.cancellation is not None
    assert group_session.seats_left(cancelled, 0) == 0
    with pytest.raises(NotAllowedNow):
        group_session.check_seat(cancelled, uuid4(), set())
    with pytest.raises(NotAllowedNow):
        group_session.reschedule(cancelled, RescheduleGroupSession(START), None, NOW)
    with pytest.raises(NotAllowedNow):
        group_session.cancel(cancelled, command, NOW)


def test_a_blank_cancellation_reason_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        group_session.cancel(a_group(), CancelGroupSession("  ", CancelledBy.CENTER), NOW)

    assert set(refused.value.errors) == {"reason"}
