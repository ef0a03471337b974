"""Booking and cancelling recurring series: every occurrence in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from booking.adapters import closures_store, projections, series_store
from booking.application import handlers, publishing
from booking.application.ports import SiteAccess, require_site
from booking.application.recording import record, stream_id
from booking.domain import appointment
from booking.domain.appointment import Appointment, AppointmentStatus
from booking.domain.errors import InvalidCommand, SlotTaken, UnknownAggregate
from booking.domain.expected_fee import ExpectedFee, require_expected, total_fee
from booking.domain.scheduling import series
from booking.domain.scheduling.closures import SiteClosed
from booking.domain.scheduling.series import Conflict, Series, SeriesConflicts
from booking.domain.site import Site
from counseling_shared.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from counseling_shared.db import Connection


@dataclass(frozen=True)
class BookedSeries:
    series: Series
    appointments: list[Appointment]


async def book_series(
    uow: UnitOfWork,
    first: appointment.BookAppointment,
    rule: str,
    access: SiteAccess,
    *,
    allow_closed_site: bool = False,
    skip_closed: bool = False,
) -> BookedSeries:
    """Book every occurrence or none: all are tried in this transaction, and any conflict
    (another session or a hold) raises `SeriesConflicts` naming each, which rolls it back.
    `skip_closed`: the rule's dates on which the site is closed are left out instead (the
    series remembers which), and `COUNT` counts the occurrences booked."""
    counselor = await projections.load_staff_member(uow.conn, first.counselor_id)
    if counselor is None:
        # Let the ordinary booking checks name every bad field.
        await handlers.book_appointment(uow, first, access)
        raise AssertionError("unreachable: an unknown counselor is refused")  # pragma: no cover
    require_site(access, counselor.site_id)
    at_site = await projections.load_site(uow.conn, counselor.site_id)
    assert at_site is not None
    planned = await plan_series(
        uow.conn, first.start, rule, first.duration_minutes, at_site, allow_closed_site, skip_closed
    )
    series_id = uuid4()
    uow.name_resource(series_id)  # a replay answers the series, not its first appointment
    booked: list[Appointment] = []
    conflicts: list[Conflict] = []
    for start in planned.starts:
        try:
            occurrence = replace(first, start=start, series_id=series_id)
            booked.append(
                await handlers.book_appointment(
                    uow, occurrence, access, allow_closed_site=allow_closed_site
                )
            )
        except (SiteClosed, SlotTaken) as refused:
            conflicts.append(series.conflict_of(start, refused))
    if conflicts:
        raise SeriesConflicts(conflicts)
    events = [
        series.SeriesBooked(
            series_id,
            counselor.site_id,
            counselor.id,
            first.client_id,
            first.room_id,
            first.modality,
            rule,
            at_site.timezone,
            first.duration_minutes,
            tuple(a.id for a in booked),
            uow.now(),
            tuple(planned.skipped),
        )
    ]
    # After the occurrences' own events: the summary notify sends one confirmation for.
    summary = publishing.series_events(booked)
    state = await record(
        uow, stream_id("series", series_id), None, 0, events, series.evolve, summary, series_id
    )
    await series_store.save_series(uow.conn, state)
    return BookedSeries(state, booked)


async def plan_series(
    conn: Connection,
    first: datetime,
    rule: str,
    duration_minutes: int,
    at_site: Site,
    allow_closed_site: bool,
    skip_closed: bool,
) -> series.Planned:
    """The starts a series (of appointments or of group sessions) books: every one of the
    rule's, or with `skip_closed` those on no closed day of the site (which an admin's
    `allow_closed_site` contradicts: 422)."""
    if skip_closed and allow_closed_site:
        raise InvalidCommand(
            {"skip_closed": "not with `allow_closed_site`: book the closed days, or leave them out"}
        )
    closed = await closures_store.closures_of_site(conn, at_site.id) if skip_closed else ()
    return series.plan_occurrences(
        rule, first, ZoneInfo(at_site.timezone), timedelta(minutes=duration_minutes), closed
    )


async def cancel_series(
    uow: UnitOfWork,
    series_id: UUID,
    from_date: date | None,
    command: appointment.CancelAppointment,
    access: SiteAccess,
    on_freed: handlers.SlotFreed | None = None,
    expected: ExpectedFee | None = None,
) -> BookedSeries:
    """Cancel the occurrences still booked and ahead on or after `from_date` (the site's local
    date; default: today; one under way or over is left as it is), each as an ordinary
    cancellation. With `expected`, the fees they mark
    together must be that fee, else `FeeChanged` rolls every one of them back."""
    current = await series_store.load_series(uow.conn, series_id)
    if current is None:
        raise UnknownAggregate("appointment series", series_id)
    require_site(access, current.site_id)
    zone = ZoneInfo(current.timezone)
    since = from_date or uow.now().astimezone(zone).date()
    cancelled: list[Appointment] = []
    as_part = replace(command, series_id=series_id)  # each occurrence's event names the series
    for appointment_id in current.appointment_ids:
        found = await projections.load_appointment(uow.conn, appointment_id)
        if found is None or found.status is not AppointmentStatus.BOOKED:
            continue
        if found.start.astimezone(zone).date() < since:
            continue
        if found.start <= uow.now():
            continue  # under way or over: its outcome is recorded, never a late cancellation
        cancelled.append(
            await handlers.cancel_appointment(uow, appointment_id, as_part, access, on_freed)
        )
    require_expected(total_fee(a.fee_due for a in cancelled), expected)
    events = [
        series.SeriesCancelled(
            series_id, since, command.cancelled_by, tuple(a.id for a in cancelled), uow.now()
        )
    ]
    state = await record(
        uow,
        stream_id("series", series_id),
        current,
        current.version,
        events,
        series.evolve,
        publishing.series_events(cancelled),
        series_id,
    )
    await series_store.save_series(uow.conn, state)
    return BookedSeries(state, await occurrences_of(uow.conn, state))


async def occurrences_of(conn: Connection, state: Series) -> list[Appointment]:
    found = [await projections.load_appointment(conn, a) for a in state.appointment_ids]
    return [a for a in found if a is not None]
