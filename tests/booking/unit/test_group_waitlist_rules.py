"""A full group's waitlist and its capacity: seats held for offers count as taken, a group is
waited for only when full, the capacity never drops below the seats taken, and a freed seat
fits only its own group's entries."""

from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain import group_session
from booking.domain.errors import InvalidCommand, NotAllowedNow
from booking.domain.group_session import (
    AlreadySeated,
    AlreadyWaiting,
    CancelGroupSession,
    CapacityBelowTaken,
    ChangeCapacity,
    GroupCapacityChanged,
    GroupFull,
    SeatsFree,
)
from booking.domain.scheduling.waitlist import Entry, EntryStatus, FreedSlot
from counseling_shared.codes import CancelledBy, Modality
from tests.booking.unit.builders import NOW
from tests.booking.unit.test_group_session_rules import START, a_group

UTC_ZONE = ZoneInfo("UTC")


@given(
    capacity=st.integers(2, 15),
    seated=st.integers(0, 15),
    held=st.integers(0, 15),
)
def test_a_seat_held_for_an_offer_counts_as_taken(capacity: int, seated: int, held: int) -> None:
    group = a_group(capacity)
    clients = [uuid4() for _ in range(seated)]

    if seated + held >= capacity:
        with pytest.raises(GroupFull):
            group_session.check_seat(group, uuid4(), clients, held)
        assert group_session.seats_left(group, seated, held) == 0
    else:
        group_session.check_seat(group, uuid4(), clients, held)
        assert group_session.seats_left(group, seated, held) == capacity - seated - held


def test_only_a_full_group_is_waited_for() -> None:
    group = a_group(capacity=3)
    seated = [uuid4(), uuid4()]

    with pytest.raises(SeatsFree):
        group_session.check_joins_waitlist(group, uuid4(), seated, 0, [])
    group_session.check_joins_waitlist(group, uuid4(), seated, 1, [])  # the last seat is held
    group_session.check_joins_waitlist(group, uuid4(), [*seated, uuid4()], 0, [])


def test_a_client_seated_or_waiting_already_is_refused() -> None:
    group = a_group(capacity=2)
    seated, waiting = [uuid4(), uuid4()], [uuid4()]

    with pytest.raises(AlreadySeated):
        group_session.check_joins_waitlist(group, seated[0], seated, 0, waiting)
    with pytest.raises(AlreadyWaiting):
        group_session.check_joins_waitlist(group, waiting[0], seated, 0, waiting)


def test_a_cancelled_group_is_not_waited_for_nor_resized() -> None:
    group = a_group(capacity=2)
    [cancelled] = group_session.cancel(group, CancelGroupSession("ill", CancelledBy.CENTER), NOW)
    gone = group_session.evolve(group, cancelled)

    with pytest.raises(NotAllowedNow):
        group_session.check_joins_waitlist(gone, uuid4(), [uuid4(), uuid4()], 0, [])
    with pytest.raises(NotAllowedNow):
        group_session.change_capacity(gone, ChangeCapacity(5), 0, 0, NOW)


@given(capacity=st.integers(2, 15), seated=st.integers(0, 15), held=st.integers(0, 5))
def test_the_capacity_never_drops_below_the_seats_taken(
    capacity: int, seated: int, held: int
) -> None:
    group = a_group(capacity=8)
    command = ChangeCapacity(capacity)

    if capacity < seated + held:
        with pytest.raises(CapacityBelowTaken) as refused:
            group_session.change_capacity(group, command, seated, held, NOW)
        assert (refused.value.seated, refused.value.held) == (seated, held)
        assert f"{seated} clients are seated" in str(refused.value)
        return
    events = group_session.change_capacity(group, command, seated, held, NOW)
    if capacity == 8:
        assert events == []
        return
    assert events == [GroupCapacityChanged(group.id, capacity, 8, NOW)]
    changed = group_session.evolve(group, events[0])
    assert (changed.capacity, changed.version) == (capacity, group.version + 1)


@pytest.mark.parametrize("capacity", [0, 1, 16])
def test_a_capacity_outside_2_to_15_is_named(capacity: int) -> None:
    with pytest.raises(InvalidCommand) as refused:
        group_session.change_capacity(a_group(), ChangeCapacity(capacity), 0, 0, NOW)

    assert set(refused.value.errors) == {"capacity"}


def _entry(group_session_id: UUID | None = None) -> Entry:
    return Entry(
        uuid4(),
        SITE,
        uuid4(),
        None,
        None,
        None,
        None,
        None,
        NOW,
        EntryStatus.WAITING,
        1,
        group_session_id=group_session_id,
    )


SITE = uuid4()


def _slot(group_session_id: UUID | None = None) -> FreedSlot:
    return FreedSlot(
        SITE,
        uuid4(),
        None,
        Modality.ONLINE,
        START,
        START + timedelta(minutes=90),
        group_session_id,
    )


def test_a_freed_seat_fits_only_its_own_groups_entries() -> None:
    group_id, other_group = uuid4(), uuid4()

    assert _entry(group_id).matches(_slot(group_id), UTC_ZONE)
    assert not _entry(group_id).matches(_slot(other_group), UTC_ZONE)
    assert not _entry(group_id).matches(_slot(), UTC_ZONE)  # a one-to-one slot
    assert not _entry().matches(_slot(group_id), UTC_ZONE)  # an ordinary entry
    assert _entry().matches(_slot(), UTC_ZONE)


def test_a_group_stands_on_a_closed_day_only_as_its_last_move_says() -> None:
    group = a_group()
    [moved] = group_session.reschedule(
        group, group_session.RescheduleGroupSession(START + timedelta(days=1)), None, NOW
    )
    assert isinstance(moved, group_session.GroupSessionRescheduled)

    onto_closed = group_session.evolve(group, replace(moved, on_closed_day=True))
    back = group_session.evolve(onto_closed, moved)

    assert (group.on_closed_day, onto_closed.on_closed_day, back.on_closed_day) == (
        False,
        True,
        False,
    )
