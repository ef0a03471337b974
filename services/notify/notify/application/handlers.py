"""Event handlers: each incoming event becomes notification rows in the consumer's transaction
(the inbox makes that happen once per event); the lane workers deliver them after commit."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from counseling_shared.codes import NotificationChannel
from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    AlertAcknowledged,
    AlertResolved,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentSeriesBooked,
    AppointmentSeriesCancelled,
    ClientContactChanged,
    ClientRegistered,
    FollowUpDue,
    GroupSessionSeriesSeatCancelled,
    GroupSessionSeriesSeatTaken,
    IntegrationEvent,
    PageRequested,
    SessionMissed,
    SiteRegistered,
    StaffDeactivated,
    StaffRegistered,
    WaitlistOfferMade,
)
from counseling_shared.inbox import Handler
from counseling_shared.tracing import current_trace_headers
from counseling_shared.unit_of_work import UnitOfWork
from notify.adapters import directory_store, notification_store
from notify.application import group_series_messages, missed_session_fees, series_messages
from notify.application.client_messages import ClientMessage, MessagesOf, client_message_handler
from notify.domain import notification
from notify.domain.codes import Lane, RecipientKind, Template
from notify.domain.notification import Params
from notify.domain.recipients import ClientProfile, Site, StaffMember

PAGE_CHANNELS = (NotificationChannel.SMS, NotificationChannel.EMAIL)
"""A page goes to the staff member's phone and mailbox, both at once."""


def followup_due_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    assert isinstance(event, FollowUpDue)
    params: Params = {
        "followup_id": str(event.followup_id),
        "kind": event.kind.value,
        "due_at": event.due_at.isoformat(),
        # A reminder's appointment: shown in the client's zone, and the quiet-hours deadline.
        "appointment_start": (
            event.appointment_start.isoformat() if event.appointment_start else None
        ),
        # The signed link to the client's answer form (a credential, not a client detail).
        "response_url": event.response_url,
        # A reminder's signed link to confirm or cancel (booking's page; a credential too).
        "manage_url": event.manage_url,
        # A reminder's appointment: a C/X reply to its text acts on it (sms_reminders).
        "appointment_id": str(event.appointment_id) if event.appointment_id else None,
    }
    return [
        ClientMessage(
            envelope,
            event.client_id,
            event.site_id,
            Template.FOLLOWUP_DUE,
            params,
            requested_channel=event.channel,
        )
    ]


def appointment_booked_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    assert isinstance(event, AppointmentBooked)
    if event.series_id is not None:
        return []  # the series' summary (AppointmentSeriesBooked) gets one confirmation
    if event.group_series_id is not None:
        return []  # the client's summary (GroupSessionSeriesSeatTaken) gets one
    return [_confirmation(envelope, event, Template.APPOINTMENT_BOOKED, {})]


def appointment_rescheduled_messages(
    envelope: Envelope, event: IntegrationEvent
) -> list[ClientMessage]:
    assert isinstance(event, AppointmentRescheduled)
    previous = event.previous_start.isoformat() if event.previous_start else None
    extra = {"previous_start": previous}
    return [_confirmation(envelope, event, Template.APPOINTMENT_RESCHEDULED, extra)]


def appointment_cancelled_messages(
    envelope: Envelope, event: IntegrationEvent
) -> list[ClientMessage]:
    """The cancellation's confirmation, then a fee notice when a fee is due. An occurrence
    cancelled with its series, or a seat with its group series, gets no confirmation of its
    own (the summary, AppointmentSeriesCancelled or GroupSessionSeriesSeatCancelled, gets one
    notice), but its fee notice still goes."""
    assert isinstance(event, AppointmentCancelled)
    fee = missed_session_fees.fee_notice(envelope, event, "late_cancellation")
    fees = [] if fee is None else [fee]
    if event.series_id is not None or event.group_series_id is not None:
        return fees
    extra = {"cancelled_by": event.cancelled_by.value, "late": event.late}
    return [_confirmation(envelope, event, Template.APPOINTMENT_CANCELLED, extra), *fees]


def waitlist_offer_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    """A freed slot offered to a waitlisted client: its signed accept link, in their locale,
    held through their quiet hours like every bulk message."""
    assert isinstance(event, WaitlistOfferMade)
    params: Params = {
        "offer_id": str(event.offer_id),
        "start": event.appointment_start.isoformat(),
        "end": (event.appointment_end or event.appointment_start).isoformat(),
        "expires_at": event.expires_at.isoformat(),
        "accept_url": event.accept_url,
    }
    template = Template.WAITLIST_OFFER
    return [ClientMessage(envelope, event.client_id, event.site_id, template, params)]


def _confirmation(
    envelope: Envelope, event: AppointmentBooked, template: Template, extra: dict[str, Any]
) -> ClientMessage:
    params: Params = {
        "appointment_id": str(event.appointment_id),
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "modality": event.modality.value,
        "previous_start": None,
        **extra,
    }
    return ClientMessage(envelope, event.client_id, event.site_id, template, params)


FOLLOWUP_MESSAGES: dict[type[IntegrationEvent], MessagesOf] = {
    FollowUpDue: followup_due_messages,
}
APPOINTMENT_MESSAGES: dict[type[IntegrationEvent], MessagesOf] = {
    AppointmentBooked: appointment_booked_messages,
    AppointmentRescheduled: appointment_rescheduled_messages,
    AppointmentCancelled: appointment_cancelled_messages,
    SessionMissed: missed_session_fees.session_missed_messages,
    AppointmentSeriesBooked: series_messages.series_booked_messages,
    AppointmentSeriesCancelled: series_messages.series_cancelled_messages,
    GroupSessionSeriesSeatTaken: group_series_messages.seat_taken_messages,
    GroupSessionSeriesSeatCancelled: group_series_messages.seat_cancelled_messages,
}
WAITLIST_MESSAGES: dict[type[IntegrationEvent], MessagesOf] = {
    WaitlistOfferMade: waitlist_offer_messages,
}
"""Each consumer's table: its per-message and its batch handler are both made from it."""

on_followup_due = client_message_handler(followup_due_messages)
on_appointment_booked = client_message_handler(appointment_booked_messages)
on_appointment_rescheduled = client_message_handler(appointment_rescheduled_messages)
on_appointment_cancelled = client_message_handler(appointment_cancelled_messages)
on_waitlist_offer_made = client_message_handler(waitlist_offer_messages)


async def on_alert_closed(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    """Someone took the alert (or it was resolved): its pages still waiting for a retry (or not
    yet tried) are withdrawn. Pages already sent stay sent.

    An acknowledgement withdraws only the pages crisis requested up to it (its envelope's
    `time`, crisis's clock like a page's `requested_at`): crisis re-opens an acknowledged alert
    when its risk rises and pages the acknowledger again, and that page, read by another
    consumer, may be here before a late-read acknowledgement that must not silence it."""
    assert isinstance(event, AlertAcknowledged | AlertResolved)
    acknowledged = isinstance(event, AlertAcknowledged)
    reason = "alert_acknowledged" if acknowledged else "alert_resolved"
    up_to = envelope.time if acknowledged else None
    for state in await notification_store.pending_pages_of_alert(uow.conn, event.alert_id, up_to):
        await notification_store.record(
            uow.conn, state, notification.withdraw(state, uow.now(), reason)
        )


def page_handler(
    alert_base_url: str, *, calls: bool = False, call_delay: timedelta = timedelta(0)
) -> Handler:
    """PageRequested → an SMS and an email to the staff member, in the crisis lane; with
    `calls` (PAGE_CALLS) a phone call too, not before the page's `call_after` (its level's,
    from the escalation policy) or else `call_delay` (PAGE_CALL_DELAY) after crisis requested
    the page (README, "Calls"). The SMS and email never wait."""
    base = alert_base_url.rstrip("/")
    channels = (*PAGE_CHANNELS, NotificationChannel.VOICE) if calls else PAGE_CHANNELS

    async def on_page_requested(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, PageRequested)
        params = {
            "alert_id": str(event.alert_id),
            "page_id": str(event.page_id),
            "level": event.level,
            # The signed link opens the on-call page without a sign-in; the API's URL (which
            # needs a key) is the fallback for a page from a crisis that signs none.
            "alert_url": event.ack_url or event.alert_url or f"{base}/alerts/{event.alert_id}",
            "reply_code": event.reply_code or "",
        }
        if event.requested_at is not None:  # which acknowledgement may withdraw it
            params["requested_at"] = event.requested_at.isoformat()
        if event.fallback:  # the texts say "fallback", not "level <one past the last>"
            params["fallback"] = True
        now = uow.now()
        # Counted from crisis's request, so a page read late does not wait the whole delay
        # again; a row's `next_attempt_at` is the durable timer (a restart keeps it). The
        # paged level's own delay (`call_after`) wins over PAGE_CALL_DELAY.
        delay = event.call_after if event.call_after is not None else call_delay
        call_at = (event.requested_at or now) + delay if delay else None
        requested = [
            notification.request(
                notification_id=uuid4(),
                recipient_id=event.staff_id,
                recipient_kind=RecipientKind.STAFF,
                site_id=event.site_id,
                lane=Lane.CRISIS,
                channel=channel,
                template=Template.CRISIS_PAGE,
                params=params,
                cause_event_id=envelope.id,
                correlation_id=envelope.correlationid,
                page_id=event.page_id,
                now=now,
                call_at=call_at if channel is NotificationChannel.VOICE else None,
            )
            for channel in channels
        ]
        # Both rows and the crisis lane's wake-up in one round trip.
        headers = current_trace_headers()
        await notification_store.add_many(uow.conn, requested, [headers] * len(requested))

    return on_page_requested


# --- what notify learns from booking -------------------------------------------------------


def _site(event: SiteRegistered) -> Site:
    return Site(event.site_id, event.name, event.timezone, event.locale)


def _staff(event: StaffRegistered, announced_at: datetime) -> StaffMember:
    """`announced_at`: the envelope's time (booking announces a member again on a change)."""
    return StaffMember(
        staff_id=event.staff_id,
        site_id=event.site_id,
        name=event.name,
        role=event.role.value,
        email=event.email,
        phone=event.phone,
        locale=event.locale,
        announced_at=announced_at,
    )


def _client(event: ClientRegistered | ClientContactChanged) -> ClientProfile:
    """A registration and a correction carry the same coded values: the later one wins."""
    return ClientProfile(
        client_id=event.client_id,
        site_id=event.site_id,
        locale=event.locale,
        timezone=event.timezone,
        preferred_channel=event.preferred_channel,
    )


async def on_site_registered(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, SiteRegistered)
    await directory_store.save_site(uow.conn, _site(event))


async def on_staff_registered(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, StaffRegistered)
    await directory_store.save_staff(uow.conn, _staff(event, envelope.time))


async def on_client_registered(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, ClientRegistered)
    await directory_store.save_client(uow.conn, _client(event))


async def on_client_contact_changed(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, ClientContactChanged)
    await directory_store.save_client(uow.conn, _client(event))


def _deactivation(event: StaffDeactivated, at: datetime) -> directory_store.StaffDeactivation:
    return (event.staff_id, event.site_id, at)


async def on_staff_deactivated(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    """Nothing more is sent to them, and their contact details are dropped."""
    assert isinstance(event, StaffDeactivated)
    await directory_store.deactivate_staff(uow.conn, _deactivation(event, uow.now()))


async def on_directory_batch(
    uow: UnitOfWork, messages: Sequence[tuple[Envelope, IntegrationEvent]]
) -> None:
    """notify-directory's batch handler: the batch's upserts, one executemany per table."""
    sites = [_site(e) for _, e in messages if isinstance(e, SiteRegistered)]
    staff = [_staff(e, m.time) for m, e in messages if isinstance(e, StaffRegistered)]
    clients = [
        _client(e) for _, e in messages if isinstance(e, ClientRegistered | ClientContactChanged)
    ]
    left = [_deactivation(e, uow.now()) for _, e in messages if isinstance(e, StaffDeactivated)]
    await directory_store.save_directory(uow.conn, sites, staff, clients, left)
