"""Free slots: working hours minus booked sessions and live holds, with the site's buffer.

Pure: the caller loads each counselor's hours and every claim (appointment or hold) of the
window, and gets back the slots a client could book.
"""

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class FreeSlot:
    counselor_id: UUID
    start: datetime
    end: datetime
    room_id: UUID | None = None


class BusyTimes:
    """Claimed intervals of one resource, sorted by start, for quick overlap checks."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self._intervals = sorted(intervals)
        self._starts = [start for start, _ in self._intervals]
        # The latest end among intervals up to each index: a long interval earlier in the list
        # can still overlap a later slot.
        self._reach: list[datetime] = []
        for _, end in self._intervals:
            self._reach.append(max(end, self._reach[-1]) if self._reach else end)

    def is_free(self, start: datetime, end: datetime) -> bool:
        """No interval intersects the half-open `[start, end)`."""
        index = bisect_left(self._starts, end)  # intervals starting before `end`
        return index == 0 or self._reach[index - 1] <= start


def free_slots(
    counselor_id: UUID,
    working: Sequence[Interval],
    busy: BusyTimes,
    *,
    duration: timedelta,
    buffer: timedelta,
    not_before: datetime,
    rooms: Mapping[UUID, BusyTimes] | None = None,
) -> list[FreeSlot]:
    """Slots of `duration` starting at each working period's start and every `duration`
    after, free of claims within `buffer` on both sides. With `rooms` (in person), a slot
    needs one free room too, and names the first."""
    found: list[FreeSlot] = []
    for period_start, period_end in working:
        start = period_start
        while start + duration <= period_end:
            end = start + duration
            if start >= not_before and busy.is_free(start - buffer, end + buffer):
                room = _free_room(rooms, start, end) if rooms is not None else None
                if rooms is None or room is not None:
                    found.append(FreeSlot(counselor_id, start, end, room))
            start = end
    return found


def _free_room(rooms: Mapping[UUID, BusyTimes], start: datetime, end: datetime) -> UUID | None:
    return next((room for room, busy in rooms.items() if busy.is_free(start, end)), None)
