"""The GroupSeries aggregate: a recurring group session, one `GroupSession` per occurrence.

The occurrences follow `POST /appointment-series`' rule subset at the site's wall-clock time
(`scheduling.series.plan_occurrences`), scheduled all or none; with `skip_closed` the rule's
dates on which the site is closed are left out (and kept in `skipped`). A client seated in
the series is seated in every future occurrence, all or none (`SeriesSeatConflicts` names
each refused occurrence), and gives those seats up together. Cancelling from a date cancels
every booked occurrence on or after it. Each client's seats taken or cancelled together are
one event of the series (`GroupSeriesSeatTaken`, `GroupSeriesSeatCancelled`): its summary
for notify.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from booking.domain.errors import DomainError
from booking.domain.scheduling.series import SkippedOccurrence
from counseling_shared.codes import CancelledBy, Modality, SeriesSeatCancelCause


@dataclass(frozen=True)
class GroupSeries:
    id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    capacity: int
    rrule: str
    timezone: str
    duration_minutes: int
    scheduled_at: datetime
    group_session_ids: tuple[UUID, ...]
    version: int
    cancelled_from: date | None = None
    skipped: tuple[SkippedOccurrence, ...] = ()  # closed dates of the rule left out


@dataclass(frozen=True)
class GroupSeriesScheduled:
    group_series_id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    capacity: int
    rrule: str
    timezone: str
    duration_minutes: int
    group_session_ids: tuple[UUID, ...]
    scheduled_at: datetime
    # `skip_closed`: the rule's closed dates left out (none in events stored before it).
    skipped: tuple[SkippedOccurrence, ...] = ()


@dataclass(frozen=True)
class GroupSeriesCancelled:
    group_series_id: UUID
    from_date: date
    cancelled_by: CancelledBy
    group_session_ids: tuple[UUID, ...]  # the occurrences this cancelled
    cancelled_at: datetime


@dataclass(frozen=True)
class GroupSeriesSeatTaken:
    """A client was seated in the occurrences ahead by the series' seat command: the seats
    (appointments) it took now, one per occurrence."""

    group_series_id: UUID
    client_id: UUID
    appointment_ids: tuple[UUID, ...]
    taken_at: datetime


@dataclass(frozen=True)
class GroupSeriesSeatCancelled:
    """A client's seats cancelled together: they left the series, or it was cancelled."""

    group_series_id: UUID
    client_id: UUID
    from_date: date
    cancelled_by: CancelledBy
    cause: SeriesSeatCancelCause
    appointment_ids: tuple[UUID, ...]  # the seats this cancelled
    cancelled_at: datetime


GroupSeriesEvent = (
    GroupSeriesScheduled | GroupSeriesCancelled | GroupSeriesSeatTaken | GroupSeriesSeatCancelled
)


@dataclass(frozen=True)
class SeatConflict:
    """Why one occurrence cannot seat the client: `full`, `taken` (the client has another
    session or hold then: who, named) or `site_closed`."""

    group_session_id: UUID
    start: datetime
    reason: str
    conflicting_appointment_id: UUID | None = None
    conflicting_hold_id: UUID | None = None
    conflicting_group_session_id: UUID | None = None
    closed_on: date | None = None
    closure_kind: str | None = None


class SeriesSeatConflicts(DomainError):
    """Some future occurrences cannot seat the client: none is seated (409)."""

    def __init__(self, conflicts: list[SeatConflict]) -> None:
        starts = ", ".join(c.start.isoformat() for c in conflicts)
        super().__init__(
            f"{len(conflicts)} occurrence(s) are full, taken or on a closed day: {starts}; "
            "the client was seated in none"
        )
        self.conflicts = conflicts


def evolve(state: GroupSeries | None, event: GroupSeriesEvent) -> GroupSeries:
    match event:
        case GroupSeriesScheduled():
            return GroupSeries(
                event.group_series_id,
                event.site_id,
                event.counselor_id,
                event.room_id,
                event.modality,
                event.capacity,
                event.rrule,
                event.timezone,
                event.duration_minutes,
                event.scheduled_at,
                event.group_session_ids,
                version=1,
                skipped=event.skipped,
            )
        case GroupSeriesCancelled():
            assert state is not None, "GroupSeriesCancelled before GroupSeriesScheduled"
            earliest = event.from_date
            if state.cancelled_from is not None:
                earliest = min(earliest, state.cancelled_from)
            return replace(state, cancelled_from=earliest, version=state.version + 1)
        case GroupSeriesSeatTaken() | GroupSeriesSeatCancelled():
            # The seats are the occurrences' own appointments: the series only counts them.
            assert state is not None, f"{type(event).__name__} before GroupSeriesScheduled"
            return replace(state, version=state.version + 1)
