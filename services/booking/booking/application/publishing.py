"""Which public events (the shared catalog) each aggregate event becomes.

Only identifiers and coded values cross: no names, contact details, goals, next steps,
cancellation reasons or referral text.
"""

from collections.abc import Callable, Sequence
from uuid import UUID

from booking.application.manage_links import manage_url
from booking.domain import appointment, client, group_series, group_session, site, staff
from booking.domain.appointment import Appointment
from booking.domain.scheduling import series
from booking.domain.scheduling.rules import Fee
from counseling_shared import events as public
from counseling_shared.codes import RiskSource


def site_events(state: site.Site, event: site.SiteEvent) -> list[public.IntegrationEvent]:
    return [
        public.SiteRegistered(
            site_id=state.id, name=state.name, timezone=state.timezone, locale=state.locale
        )
    ]


def staff_events(
    state: staff.StaffMember, event: staff.StaffEvent
) -> list[public.IntegrationEvent]:
    match event:
        case (
            staff.StaffMemberRegistered()
            | staff.StaffMemberContactChanged()
            | staff.StaffMemberAnnouncedAgain()
        ):
            # Staff contact details travel on purpose: crisis pages staff while booking is down.
            # A change, or an operator's announcement, sends the whole current snapshot again
            # as StaffRegistered: every consumer already upserts on it.
            return [
                public.StaffRegistered(
                    staff_id=state.id,
                    site_id=state.site_id,
                    name=state.name,
                    role=state.role,
                    email=state.email,
                    phone=state.phone,
                    locale=state.locale,
                )
            ]
        case staff.StaffMemberDeactivated():
            return [public.StaffDeactivated(staff_id=state.id, site_id=state.site_id)]


def client_events(state: client.Client, event: client.ClientEvent) -> list[public.IntegrationEvent]:
    match event:
        case client.ClientRegistered():
            return [
                public.ClientRegistered(
                    client_id=state.id,
                    site_id=state.site_id,
                    locale=state.locale,
                    timezone=state.timezone,
                    preferred_channel=state.preferred_channel,
                )
            ]
        case client.CareEpisodeClosed():
            return [
                public.CareEpisodeClosed(
                    client_id=state.id,
                    site_id=state.site_id,
                    reason=event.reason,
                    effective_on=event.effective_on,
                    referred=event.referral is not None,
                )
            ]
        case client.CareEpisodeOpened():
            return []  # the catalog has no such event: a booked session says enough
        case client.ClientContactCorrected():
            # The corrected name, email and phone stay here: only what others keep travels.
            return [
                public.ClientContactChanged(
                    client_id=state.id,
                    site_id=state.site_id,
                    preferred_channel=state.preferred_channel,
                    locale=state.locale,
                    timezone=state.timezone,
                )
            ]


def appointment_events(
    state: Appointment, event: appointment.AppointmentEvent
) -> list[public.IntegrationEvent]:
    booked = {
        "appointment_id": state.id,
        "site_id": state.site_id,
        "client_id": state.client_id,
        "counselor_id": state.counselor_id,
        "room_id": state.room_id,
        "start": state.start,
        "end": state.end,
        "modality": state.modality,
        "group_session_id": state.group_session_id,
    }
    match event:
        case appointment.AppointmentBooked():
            return [
                public.AppointmentBooked(
                    **booked,
                    series_id=event.series_id,
                    group_series_id=event.group_series_id,
                    manage_url=manage_url(state),
                )
            ]
        case appointment.AppointmentRescheduled():
            return [
                public.AppointmentRescheduled(
                    **booked, previous_start=event.previous_start, manage_url=manage_url(state)
                )
            ]
        case appointment.AppointmentConfirmed():
            return [
                public.AppointmentConfirmed(
                    appointment_id=state.id,
                    site_id=state.site_id,
                    client_id=state.client_id,
                    counselor_id=state.counselor_id,
                    start=state.start,
                    confirmed_at=event.confirmed_at,
                )
            ]
        case appointment.AppointmentCancelled():
            return [
                public.AppointmentCancelled(
                    **booked,
                    cancelled_by=event.cancelled_by,
                    late=event.late,
                    fee_due=_fee(event.fee_due),
                    series_id=event.series_id,
                    group_series_id=event.group_series_id,
                )
            ]
        case appointment.SessionMarkedNoShow():
            return [
                public.SessionMissed(
                    appointment_id=state.id,
                    site_id=state.site_id,
                    client_id=state.client_id,
                    counselor_id=state.counselor_id,
                    start=state.start,
                    fee_due=_fee(event.fee_due),
                    group_session_id=state.group_session_id,
                )
            ]
        case appointment.SessionCompleted():
            completed: list[public.IntegrationEvent] = [
                public.SessionCompleted(
                    appointment_id=state.id,
                    site_id=state.site_id,
                    client_id=state.client_id,
                    counselor_id=state.counselor_id,
                    completed_at=event.completed_at,
                    goal_horizon=event.goal_horizon,
                    risk_level=event.risk_level,
                    group_session_id=state.group_session_id,
                )
            ]
            if event.risk_flag_id is not None:
                completed.append(
                    public.RiskFlagged(
                        flag_id=event.risk_flag_id,
                        client_id=state.client_id,
                        site_id=state.site_id,
                        level=event.risk_level,
                        source=RiskSource.BOOKING,
                        flagged_at=event.completed_at,
                    )
                )
            return completed


def group_session_events(
    state: group_session.GroupSession, event: group_session.GroupSessionEvent
) -> list[public.IntegrationEvent]:
    """Ids, times and capacity only: the seats publish their own appointments' events."""
    common = {
        "group_session_id": state.id,
        "site_id": state.site_id,
        "counselor_id": state.counselor_id,
        "room_id": state.room_id,
        "modality": state.modality,
        "start": state.start,
        "end": state.end,
        "capacity": state.capacity,
    }
    match event:
        case group_session.GroupSessionScheduled():
            return [public.GroupSessionScheduled(**common)]
        case group_session.GroupSessionRescheduled():
            return [public.GroupSessionRescheduled(**common, previous_start=event.previous_start)]
        case group_session.GroupSessionCancelled():
            return [
                public.GroupSessionCancelled(
                    **common, cancelled_by=event.cancelled_by, cancelled_at=event.cancelled_at
                )
            ]
        case group_session.GroupCapacityChanged():
            return [
                public.GroupSessionCapacityChanged(
                    **common,
                    previous_capacity=event.previous_capacity,
                    changed_at=event.changed_at,
                )
            ]


def group_series_events(
    seats: Sequence[Appointment] = (),
) -> Callable[
    [group_series.GroupSeries, group_series.GroupSeriesEvent], list[public.IntegrationEvent]
]:
    """Ids and the rule only; each occurrence publishes its own `GroupSession*` event first.

    A client's seats taken or cancelled together (`seats`: the appointments they name) are one
    summary for that client, after each seat's own `AppointmentBooked` / `AppointmentCancelled`
    (with the `group_series_id`): notify sends one message for the summary alone."""
    by_id = {s.id: s for s in seats}

    def listed(appointment_ids: Sequence[UUID]) -> list[public.GroupSeriesSeat]:
        found = sorted((by_id[a] for a in appointment_ids), key=lambda a: a.start)
        return [
            public.GroupSeriesSeat(
                appointment_id=a.id,
                group_session_id=a.group_session_id,
                start=a.start,
                end=a.end,
            )
            for a in found
            if a.group_session_id is not None
        ]

    def publish(
        state: group_series.GroupSeries, event: group_series.GroupSeriesEvent
    ) -> list[public.IntegrationEvent]:
        seat_fields = {
            "group_series_id": state.id,
            "site_id": state.site_id,
            "counselor_id": state.counselor_id,
            "room_id": state.room_id,
            "modality": state.modality,
        }
        match event:
            case group_series.GroupSeriesScheduled():
                return [
                    public.GroupSessionSeriesScheduled(
                        group_series_id=state.id,
                        site_id=state.site_id,
                        counselor_id=state.counselor_id,
                        rrule=state.rrule,
                        capacity=state.capacity,
                        group_session_ids=list(event.group_session_ids),
                        skipped_occurrences=skipped_events(event.skipped),
                    )
                ]
            case group_series.GroupSeriesCancelled():
                return [
                    public.GroupSessionSeriesCancelled(
                        group_series_id=state.id,
                        site_id=state.site_id,
                        counselor_id=state.counselor_id,
                        from_date=event.from_date,
                        cancelled_by=event.cancelled_by,
                        group_session_ids=list(event.group_session_ids),
                    )
                ]
            case group_series.GroupSeriesSeatTaken():
                return [
                    public.GroupSessionSeriesSeatTaken(
                        **seat_fields,
                        client_id=event.client_id,
                        occurrences=listed(event.appointment_ids),
                    )
                ]
            case group_series.GroupSeriesSeatCancelled():
                return [
                    public.GroupSessionSeriesSeatCancelled(
                        **seat_fields,
                        client_id=event.client_id,
                        cancelled_from=event.from_date,
                        cancelled_by=event.cancelled_by,
                        cause=event.cause,
                        occurrences=listed(event.appointment_ids),
                    )
                ]

    return publish


def series_events(
    occurrences: Sequence[Appointment],
) -> Callable[[series.Series, series.SeriesEvent], list[public.IntegrationEvent]]:
    """A series' summary event, naming `occurrences` (those booked, or those cancelled now).

    Each occurrence also publishes its own event (with the `series_id`) before this one, so a
    consumer that wants one message per series (notify) acts on the summary alone."""
    listed = [
        public.SeriesOccurrence(appointment_id=a.id, start=a.start, end=a.end)
        for a in sorted(occurrences, key=lambda a: a.start)
    ]

    def summary(state: series.Series, event: series.SeriesEvent) -> list[public.IntegrationEvent]:
        common = {
            "series_id": state.id,
            "site_id": state.site_id,
            "client_id": state.client_id,
            "counselor_id": state.counselor_id,
            "room_id": state.room_id,
            "modality": state.modality,
            "occurrences": listed,
        }
        match event:
            case series.SeriesBooked():
                return [
                    public.AppointmentSeriesBooked(
                        **common, skipped_occurrences=skipped_events(event.skipped)
                    )
                ]
            case series.SeriesCancelled():
                return [
                    public.AppointmentSeriesCancelled(
                        **common, cancelled_from=event.from_date, cancelled_by=event.cancelled_by
                    )
                ]

    return summary


def skipped_events(skipped: Sequence[series.SkippedOccurrence]) -> list[public.SkippedOccurrence]:
    """The closed dates a series left out, as its summary event names them (codes only)."""
    return [
        public.SkippedOccurrence(
            start=s.start, reason=s.reason, closed_on=s.closed_on, closure_kind=s.closure_kind
        )
        for s in skipped
    ]


def _fee(fee: Fee | None) -> public.FeeDue | None:
    return public.FeeDue(amount=fee.amount, currency=fee.currency) if fee else None
