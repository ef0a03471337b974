"""Recurring group sessions: scheduling every occurrence (all or none), seating a client in
every future occurrence (all or none), giving those seats up, and cancelling the series from a
date. A client's seats taken or cancelled together carry the series' id and are followed by
one summary for that client (`GroupSeriesSeatTaken`, `GroupSeriesSeatCancelled`): one message.

Each occurrence is an ordinary group session (`application/group_sessions.py`): its own
claims, seats, waitlist and events. A conflict is collected per occurrence and raised at the
end, which rolls the whole transaction back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from booking.adapters import group_series_store, group_session_store, projections
from booking.application import group_sessions, handlers, publishing
from booking.application.group_sessions import SeatedGroup
from booking.application.ports import SiteAccess, require_site
from booking.application.recording import record, stream_id
from booking.application.series import plan_series
from booking.application.waitlist import OfferPolicy, close_series_entries
from booking.domain import appointment, group_series, group_session
from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.errors import NotAllowedNow, SlotTaken, UnknownAggregate, refuse_invalid
from booking.domain.group_series import GroupSeries, SeatConflict, SeriesSeatConflicts
from booking.domain.group_session import AlreadySeated, GroupFull, GroupSessionStatus
from booking.domain.scheduling import series
from booking.domain.scheduling.closures import SiteClosed
from booking.domain.scheduling.series import Conflict, SeriesConflicts
from counseling_shared import audit
from counseling_shared.codes import CancelledBy, SeriesSeatCancelCause
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection

KIND = "group_series"  # its streams: `group_series-<uuid>`


@dataclass(frozen=True)
class ScheduledSeries:
    series: GroupSeries
    occurrences: list[SeatedGroup]


async def schedule_group_series(
    uow: UnitOfWork,
    first: group_session.ScheduleGroupSession,
    rule: str,
    access: SiteAccess,
    *,
    allow_closed_site: bool = False,
    skip_closed: bool = False,
) -> ScheduledSeries:
    """Schedule every occurrence of the rule or none: any taken counselor or room, or closed
    day, is collected and raised together (`SeriesConflicts`). `skip_closed`: the closed days
    are left out instead, as `book_series` does."""
    counselor = await projections.load_staff_member(uow.conn, first.counselor_id)
    if counselor is None:
        # Let the group's own checks name every bad field.
        await group_sessions.schedule_group_session(uow, first, access)
        raise AssertionError("unreachable: an unknown counselor is refused")  # pragma: no cover
    require_site(access, counselor.site_id)
    at_site = await projections.load_site(uow.conn, counselor.site_id)
    assert at_site is not None
    planned = await plan_series(
        uow.conn, first.start, rule, first.duration_minutes, at_site, allow_closed_site, skip_closed
    )
    series_id = uuid4()
    uow.name_resource(series_id)  # a replay answers the series, not its first group
    scheduled: list[SeatedGroup] = []
    conflicts: list[Conflict] = []
    for start in planned.starts:
        try:
            scheduled.append(
                await group_sessions.schedule_group_session(
                    uow, replace(first, start=start), access, allow_closed_site=allow_closed_site
                )
            )
        except (SiteClosed, SlotTaken) as refused:
            conflicts.append(series.conflict_of(start, refused))
    if conflicts:
        raise SeriesConflicts(conflicts)
    event = group_series.GroupSeriesScheduled(
        series_id,
        counselor.site_id,
        counselor.id,
        first.room_id,
        first.modality,
        first.capacity,
        rule,
        at_site.timezone,
        first.duration_minutes,
        tuple(g.session.id for g in scheduled),
        uow.now(),
        tuple(planned.skipped),
    )
    state = await _save(uow, None, [event])
    return ScheduledSeries(state, scheduled)


async def seat_in_series(
    uow: UnitOfWork,
    group_series_id: UUID,
    client_id: UUID,
    access: SiteAccess,
    policy: OfferPolicy | None = None,
) -> ScheduledSeries:
    """Seat the client in every booked occurrence still ahead, or in none: each full one,
    each the client is busy in, each on a closed day is named (`SeriesSeatConflicts`). An
    occurrence the client already sits in is kept as it is."""
    current = await _series(uow, group_series_id, access, locked=True)
    # A replay answers the series, not one of the seats this takes.
    uow.name_resource(current.id, f"/group-session-series/{current.id}")
    now = uow.now()
    seated_in = 0
    seats_taken: list[Appointment] = []
    conflicts: list[SeatConflict] = []
    for session in await _occurrences(uow.conn, current):
        if session.status is not GroupSessionStatus.BOOKED or session.start <= now:
            continue
        seated_in += 1
        try:
            seat = await group_sessions.take_seat(
                uow,
                session.id,
                client_id,
                access,
                names_resource=False,
                policy=policy,
                group_series_id=current.id,
            )
            seats_taken.append(seat)
        except AlreadySeated:
            continue
        except GroupFull:
            conflicts.append(SeatConflict(session.id, session.start, "full"))
        except SiteClosed as closed:
            conflicts.append(
                SeatConflict(
                    session.id,
                    session.start,
                    "site_closed",
                    closed_on=closed.closed.day,
                    closure_kind=closed.closed.closure.kind.value,
                )
            )
        except SlotTaken as taken:
            conflicts.append(
                SeatConflict(
                    session.id,
                    session.start,
                    "taken",
                    taken.conflicting_appointment_id,
                    taken.conflicting_hold_id,
                    taken.conflicting_group_session_id,
                )
            )
    if seated_in == 0:
        raise NotAllowedNow(f"group series {current.id} has no booked occurrence ahead")
    if conflicts:
        raise SeriesSeatConflicts(conflicts)
    if seats_taken:  # after the seats' own events: the one summary notify confirms them with
        event = group_series.GroupSeriesSeatTaken(
            current.id, client_id, tuple(a.id for a in seats_taken), now
        )
        current = await _save(uow, current, [event], seats_taken)
    return await scheduled_series(uow.conn, current)


async def leave_series(
    uow: UnitOfWork,
    group_series_id: UUID,
    client_id: UUID,
    from_date: date | None,
    command: appointment.CancelAppointment,
    access: SiteAccess,
    policy: OfferPolicy | None = None,
) -> ScheduledSeries:
    """Give up the client's seats in the booked occurrences still ahead on or after
    `from_date` (the site's local date; default: today), each an ordinary cancellation of its
    appointment (late and fee rules as for any), each freed seat offered to its group's
    waitlist (`policy`). The client stops waiting for those occurrences too: each waiting
    entry closes (`left_series`), an open offer's seat going to the next client at once. A
    client holding no such seat and waiting for no such occurrence: `NotAllowedNow` (409)."""
    current = await _series(uow, group_series_id, access, locked=True)
    # A replay answers the series, not one of the seats this cancels.
    uow.name_resource(current.id, f"/group-session-series/{current.id}")
    # About this client and site, even when only entries close (their events name neither)
    # or the first event published is the next client's offer.
    audit.note_site(current.site_id)
    audit.note_client(client_id)
    zone = ZoneInfo(current.timezone)
    since = from_date or uow.now().astimezone(zone).date()
    as_part = replace(command, group_series_id=current.id)  # each seat's event names the series
    now = uow.now()
    # Under way or over: the session's outcome is recorded, not cancelled, nor waited for.
    ahead = [s for s in await _from_date(uow.conn, current, since) if s.start > now]
    # The entries first: each locks its offer before the session it offers on, as an accept.
    closed = await close_series_entries(uow, client_id, {s.id for s in ahead}, policy)
    on_freed = policy.on_freed() if policy is not None else None
    cancelled: list[Appointment] = []
    for session in ahead:
        for seat in await _booked_seats(uow.conn, session.id):
            if seat.client_id == client_id:
                cancelled.append(
                    await handlers.cancel_appointment(uow, seat.id, as_part, access, on_freed)
                )
    if not cancelled and not closed:
        raise NotAllowedNow(
            f"client {client_id} holds no seat in, and waits for no occurrence of, group "
            f"series {current.id} from {since}"
        )
    if not cancelled:
        return await scheduled_series(uow.conn, current)  # no seat given up: no notice
    left = SeriesSeatCancelCause.LEFT
    event = _seats_cancelled(current, client_id, since, command.cancelled_by, left, cancelled, now)
    state = await _save(uow, current, [event], cancelled)
    return await scheduled_series(uow.conn, state)


async def cancel_group_series(
    uow: UnitOfWork,
    group_series_id: UUID,
    from_date: date | None,
    command: group_session.CancelGroupSession,
    access: SiteAccess,
    on_freed: handlers.SlotFreed | None = None,
) -> ScheduledSeries:
    """Cancel the booked occurrences still ahead on or after `from_date` (the site's local
    date; default: today; a session under way or over keeps its seats, as on leaving), each as
    an ordinary group cancellation with its seats."""
    current = await _series(uow, group_series_id, access, locked=True)
    refuse_invalid(group_session.cancellation_problems(command))
    zone = ZoneInfo(current.timezone)
    since = from_date or uow.now().astimezone(zone).date()
    cancelled: list[UUID] = []
    seats: list[Appointment] = []  # every seat cancelled with its occurrence
    now = uow.now()
    for session in await _from_date(uow.conn, current, since):
        if session.start <= now:
            continue  # under way or over: the session's outcome is recorded, not cancelled
        # The occurrence's row first (as its cancellation takes it): a seat taken or given up
        # meanwhile is then in, or out of, both the seats cancelled and their summaries.
        await group_session_store.load_group_session(uow.conn, session.id, locked=True)
        seats += await _booked_seats(uow.conn, session.id)
        await group_sessions.cancel_group_session(
            uow, session.id, command, access, on_freed, group_series_id=current.id
        )
        cancelled.append(session.id)
    # One summary per seated client (their notice), then the series' own event.
    events: list[group_series.GroupSeriesEvent] = [
        _seats_cancelled(
            current,
            client_id,
            since,
            command.cancelled_by,
            SeriesSeatCancelCause.SERIES_CANCELLED,
            [s for s in seats if s.client_id == client_id],
            uow.now(),
        )
        for client_id in dict.fromkeys(s.client_id for s in seats)
    ]
    events.append(
        group_series.GroupSeriesCancelled(
            current.id, since, command.cancelled_by, tuple(cancelled), uow.now()
        )
    )
    state = await _save(uow, current, events, seats)
    return await scheduled_series(uow.conn, state)


async def scheduled_series(conn: Connection, state: GroupSeries) -> ScheduledSeries:
    """The series with each occurrence's seats (a read: no unit of work needed)."""
    found: list[SeatedGroup] = []
    for session in await _occurrences(conn, state):
        seats = await group_session_store.seats_of(conn, session.id)
        found.append(
            SeatedGroup(session, seats, await group_session_store.held_seats(conn, session.id))
        )
    return ScheduledSeries(state, found)


async def _series(
    uow: UnitOfWork, group_series_id: UUID, access: SiteAccess, *, locked: bool = False
) -> GroupSeries:
    current = await group_series_store.load_group_series(uow.conn, group_series_id, locked=locked)
    if current is None:
        raise UnknownAggregate("group session series", group_series_id)
    require_site(access, current.site_id)
    return current


async def _occurrences(conn: Connection, state: GroupSeries) -> list[group_session.GroupSession]:
    found = [await group_session_store.load_group_session(conn, i) for i in state.group_session_ids]
    return [g for g in found if g is not None]


async def _from_date(
    conn: Connection, state: GroupSeries, since: date
) -> list[group_session.GroupSession]:
    """The occurrences still booked on `since` (the series' local date) and after."""
    zone = ZoneInfo(state.timezone)
    return [
        g
        for g in await _occurrences(conn, state)
        if g.status is GroupSessionStatus.BOOKED and g.start.astimezone(zone).date() >= since
    ]


async def _booked_seats(conn: Connection, group_session_id: UUID) -> list[Appointment]:
    seats = await group_session_store.seats_of(conn, group_session_id)
    return [s for s in seats if s.status is AppointmentStatus.BOOKED]


def _seats_cancelled(
    state: GroupSeries,
    client_id: UUID,
    since: date,
    cancelled_by: CancelledBy,
    cause: SeriesSeatCancelCause,
    seats: list[Appointment],
    now: datetime,
) -> group_series.GroupSeriesSeatCancelled:
    return group_series.GroupSeriesSeatCancelled(
        state.id, client_id, since, cancelled_by, cause, tuple(s.id for s in seats), now
    )


async def _save(
    uow: UnitOfWork,
    current: GroupSeries | None,
    events: list[group_series.GroupSeriesEvent],
    seats: list[Appointment] | None = None,
) -> GroupSeries:
    """`seats`: the appointments the events' seat summaries name."""
    ident = current.id if current else events[0].group_series_id
    state = await record(
        uow,
        stream_id(KIND, ident),
        current,
        current.version if current else 0,
        events,
        group_series.evolve,
        publishing.group_series_events(seats or []),
        ident,
    )
    await group_series_store.save_group_series(uow.conn, state)
    return state
