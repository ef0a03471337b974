"""Every aggregate event booking stores, by stored type name (the `events.type` column)."""

from booking.domain import appointment, client, group_series, group_session, room, site, staff
from booking.domain.scheduling import closures, deferred, holds, hours, rules, series, waitlist

DomainEvent = (
    site.SiteEvent
    | staff.StaffEvent
    | room.RoomEvent
    | client.ClientEvent
    | appointment.AppointmentEvent
    | group_session.GroupSessionEvent
    | group_series.GroupSeriesEvent
    | hours.HoursEvent
    | rules.RulesEvent
    | closures.ClosuresEvent
    | holds.HoldEvent
    | series.SeriesEvent
    | waitlist.EntryEvent
    | waitlist.OfferEvent
    | deferred.DeferredEvent
)

EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.__name__: cls
    for cls in (
        site.SiteRegistered,
        staff.StaffMemberRegistered,
        staff.StaffMemberDeactivated,
        staff.StaffMemberContactChanged,
        staff.StaffMemberAnnouncedAgain,
        room.RoomRegistered,
        client.ClientRegistered,
        client.CareEpisodeClosed,
        client.CareEpisodeOpened,
        client.ClientContactCorrected,
        appointment.AppointmentBooked,
        appointment.AppointmentRescheduled,
        appointment.AppointmentCancelled,
        appointment.SessionMarkedNoShow,
        appointment.SessionCompleted,
        appointment.AppointmentConfirmed,
        group_session.GroupSessionScheduled,
        group_session.GroupSessionRescheduled,
        group_session.GroupSessionCancelled,
        group_session.GroupCapacityChanged,
        group_series.GroupSeriesScheduled,
        group_series.GroupSeriesCancelled,
        group_series.GroupSeriesSeatTaken,
        group_series.GroupSeriesSeatCancelled,
        hours.WorkingHoursSet,
        rules.BookingRulesSet,
        closures.SiteClosuresSet,
        holds.HoldPlaced,
        holds.HoldReleased,
        series.SeriesBooked,
        series.SeriesCancelled,
        waitlist.WaitlistJoined,
        waitlist.WaitlistEntryBooked,
        waitlist.WaitlistOfferMade,
        waitlist.WaitlistOfferAccepted,
        waitlist.WaitlistOfferExpired,
        waitlist.WaitlistEntryWithdrawn,
        waitlist.WaitlistEntryClosed,
        waitlist.WaitlistOfferDeclined,
        waitlist.WaitlistOfferWithdrawn,
        deferred.FreedSlotDeferred,
        deferred.DeferredSlotReleased,
    )
}
