"""notify's routing table: which subjects it consumes, which handler runs, what follows.

notify-crisis (CRISIS)
    crisis.*.PageRequested            → on_page_requested: two crisis-lane notifications
                                        (SMS and email to the staff member; with PAGE_CALLS
                                        a phone call too)
notify-alert-closed (CRISIS)
    crisis.*.AlertAcknowledged        → on_alert_closed: the alert's pages still pending
    crisis.*.AlertResolved              (retries, or not yet tried) are withdrawn
notify-staff-texts (CRISIS)
    crisis.*.StaffSmsOptOutChanged    → staff_texts: SMS and messaging to the member's phone
                                        stop (STOP to the paging number) or resume (START)
notify-shift-swaps (CRISIS)
    crisis.*.ShiftSwapRequested       → shift_swaps: one bulk-lane email to each colleague
                                        offered the shift
    crisis.*.ShiftSwapTaken           → one bulk-lane email to the requester, naming the taker
    crisis.*.ShiftSwapCancelled       → one bulk-lane email to each colleague it was offered to
    crisis.*.ShiftSwapExpired         → one bulk-lane email to the requester (still on call)
notify-followups (FOLLOWUP)
    followup.*.FollowUpDue            → on_followup_due: one bulk-lane notification (with the
                                        signed link to the client's answer form)
notify-regularity (FOLLOWUP)
    followup.*.ContactGapDetected     → on_contact_gap_detected: one bulk-lane email to the
                                        counselor of the client's latest session
    followup.*.NegativeContactRecorded → on_negative_contact_recorded: one bulk-lane email to
                                        each supervisor of the site (else its leads)
notify-client-answers (FOLLOWUP)
    followup.*.CallbackRequested      → on_callback_requested: one bulk-lane email to the
                                        counselor (none when followup knows no counselor)
notify-client-scores (FOLLOWUP, created from the stream's next message)
    followup.*.MeasureRecorded        → on_measure_recorded: the same, `elevated_score`, for a
                                        PHQ-9 or GAD-7 total of 10 or more (moderate band up)
notify-appointments (BOOKING)
    booking.*.AppointmentBooked       → on_appointment_booked: one bulk-lane confirmation
                                        (none for an occurrence naming a `series_id` or
                                        a seat naming a `group_series_id`)
    booking.*.AppointmentRescheduled  → on_appointment_rescheduled: one bulk-lane confirmation
    booking.*.AppointmentCancelled    → on_appointment_cancelled: one bulk-lane confirmation,
                                        plus a missed-session fee notice when `fee_due`
                                        (the fee notice only, with a `series_id` or a
                                        `group_series_id`)
    booking.*.AppointmentSeriesBooked → series_booked_messages: ONE confirmation listing the
                                        series' first dates ("and N more")
    booking.*.AppointmentSeriesCancelled → series_cancelled_messages: one notice for the
                                        occurrences cancelled (none when none were)
    booking.*.GroupSessionSeriesSeatTaken → seat_taken_messages: ONE confirmation of a
                                        client's seats in a recurring group (first dates)
    booking.*.GroupSessionSeriesSeatCancelled → seat_cancelled_messages: one notice to the
                                        client for their seats cancelled (left, or the series
                                        was cancelled)
    booking.*.SessionMissed           → on_session_missed: a missed-session fee notice when
                                        `fee_due` (else nothing: followup's outreach speaks)
    (batch handler, as for notify-followups and notify-waitlist: the batch's clients looked up
    in one query, its notifications stored, with their lanes' wake-up, in one statement)
notify-waitlist (BOOKING)
    booking.*.WaitlistOfferMade       → on_waitlist_offer_made: the offer's accept link to the
                                        client (bulk lane, their locale and quiet hours)
notify-directory (BOOKING)
    booking.*.SiteRegistered          → on_site_registered: sites (name, time zone, locale)
    booking.*.StaffRegistered         → on_staff_registered: staff contact details
    booking.*.ClientRegistered        → on_client_registered: client locale, zone, channel
                                        (no contact details)
    booking.*.ClientContactChanged    → on_client_contact_changed: the same, corrected
    booking.*.StaffDeactivated        → on_staff_deactivated: nothing more is sent to them
                                        (pending pages fail), contact details dropped
    (batch handler on_directory_batch: the same upserts, one executemany per table per batch)

notify-webhooks-booking (BOOKING), notify-webhooks-followup (FOLLOWUP),
notify-webhooks-crisis (CRISIS), notify-webhooks-notify (NOTIFY)
    every event of the stream         → webhooks.on_event: one pending delivery per active
                                        subscription of the event's site that chose its type
                                        (sent by the webhook worker, entrypoints/webhook_worker.py)
    (batch handler webhooks.on_events: a batch's deliveries queued in one statement)
    notify's own NotificationSent / NotificationFailed come back to it from its stream like any
    other context's events; a webhook delivery publishes nothing, so this never loops.

Emitted: every notification ends in NotificationSent or NotificationFailed (with `page_id` for a
page), published by the lane workers (entrypoints/workers.py) in the transaction that records
the delivery, never by these handlers. Crisis traffic has its own durable and its own worker
pool, so a backlog of follow-up mail never delays a page.
"""

from collections.abc import Mapping

from counseling_shared.events import (
    AlertAcknowledged,
    AlertResolved,
    CallbackRequested,
    ClientContactChanged,
    ClientRegistered,
    ContactGapDetected,
    IntegrationEvent,
    MeasureRecorded,
    NegativeContactRecorded,
    PageRequested,
    ShiftSwapCancelled,
    ShiftSwapExpired,
    ShiftSwapRequested,
    ShiftSwapTaken,
    SiteRegistered,
    StaffDeactivated,
    StaffRegistered,
    StaffSmsOptOutChanged,
)
from counseling_shared.inbox import BatchHandler, Handler, dispatch
from counseling_shared.jetstream import STREAMS, ConsumerSpec
from counseling_shared.service import Route
from notify.application import client_answers, handlers, regularity, shift_swaps, webhooks
from notify.application.client_messages import (
    MessagesOf,
    client_message_handler,
    client_messages_batch,
)
from notify.application.staff_texts import staff_texts_handler
from notify.settings import NotifySettings

WEBHOOK_STREAMS = ("BOOKING", "FOLLOWUP", "CRISIS", "NOTIFY")
"""The streams whose events a subscription may choose: every context's, notify's own included
(the contract's catalogue offers NotificationSent and NotificationFailed)."""

WEBHOOK_STREAMS_FROM_NEW = frozenset({"NOTIFY"})
"""Webhook durables added after the suite was deployed: created, they start at the stream's next
event, so an upgrade does not send subscribers that chose NotificationSent the 90 days before."""

# Pages are retried quickly: a second lost means a second later on the on-call phone.
CRISIS_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def routes(settings: NotifySettings) -> list[Route]:
    return [
        Route(
            ConsumerSpec(
                "notify-crisis",
                "CRISIS",
                ["crisis.*.PageRequested"],
                backoff=CRISIS_BACKOFF,
                # A page (or its withdrawal) is never dead-lettered for want of database capacity.
                retry_overload=True,
                description="Pages to on-call staff: the crisis lane.",
            ),
            dispatch(
                {
                    PageRequested: handlers.page_handler(
                        settings.alert_base_url,
                        calls=settings.page_calls,
                        call_delay=settings.page_call_delay,
                    )
                }
            ),
        ),
        Route(
            ConsumerSpec(
                "notify-alert-closed",
                "CRISIS",
                ["crisis.*.AlertAcknowledged", "crisis.*.AlertResolved"],
                backoff=CRISIS_BACKOFF,
                # A page (or its withdrawal) is never dead-lettered for want of database capacity.
                retry_overload=True,
                description="Withdraws the pending pages of an acknowledged or resolved alert.",
            ),
            dispatch(
                {
                    AlertAcknowledged: handlers.on_alert_closed,
                    AlertResolved: handlers.on_alert_closed,
                }
            ),
        ),
        Route(
            ConsumerSpec(
                "notify-staff-texts",
                "CRISIS",
                ["crisis.*.StaffSmsOptOutChanged"],
                description="A staff member's STOP or START to the paging number: SMS and"
                " messaging to their phone stop or resume.",
            ),
            dispatch({StaffSmsOptOutChanged: staff_texts_handler(settings.link_keys)}),
        ),
        Route(
            # Bulk mail to staff, never the crisis lane (nor the notify-crisis durable).
            ConsumerSpec(
                "notify-shift-swaps",
                "CRISIS",
                [
                    "crisis.*.ShiftSwapRequested",
                    "crisis.*.ShiftSwapTaken",
                    "crisis.*.ShiftSwapCancelled",
                    "crisis.*.ShiftSwapExpired",
                ],
                description="On-call shift swap requests: the colleagues offered a shift, and"
                " the requester when it is taken or expires, are emailed.",
            ),
            dispatch(
                {
                    ShiftSwapRequested: shift_swaps.on_shift_swap_requested,
                    ShiftSwapTaken: shift_swaps.on_shift_swap_taken,
                    ShiftSwapCancelled: shift_swaps.on_shift_swap_cancelled,
                    ShiftSwapExpired: shift_swaps.on_shift_swap_expired,
                }
            ),
        ),
        Route(
            ConsumerSpec(
                "notify-followups",
                "FOLLOWUP",
                ["followup.*.FollowUpDue"],
                description="Follow-up messages to clients.",
            ),
            *client_message_handlers(handlers.FOLLOWUP_MESSAGES),
        ),
        Route(
            ConsumerSpec(
                "notify-regularity",
                "FOLLOWUP",
                ["followup.*.ContactGapDetected", "followup.*.NegativeContactRecorded"],
                description="Contact-regularity notices to counselors and supervisors.",
            ),
            dispatch(
                {
                    ContactGapDetected: regularity.on_contact_gap_detected,
                    NegativeContactRecorded: regularity.on_negative_contact_recorded,
                }
            ),
        ),
        Route(
            ConsumerSpec(
                "notify-client-answers",
                "FOLLOWUP",
                ["followup.*.CallbackRequested"],
                description="A client asked, in a check-in answer, to be contacted: their"
                " counselor is told.",
            ),
            dispatch({CallbackRequested: client_answers.on_callback_requested}),
        ),
        Route(
            # A durable of its own, not a second filter on notify-client-answers: a bus whose
            # permissions were not rendered again refuses only this one (callbacks still go),
            # and created `from_new` it does not replay the stream's retained scores.
            ConsumerSpec(
                "notify-client-scores",
                "FOLLOWUP",
                ["followup.*.MeasureRecorded"],
                description="A client scored 10 or more on PHQ-9 or GAD-7 in a check-in"
                " answer: their counselor is told.",
                from_new=True,
            ),
            dispatch({MeasureRecorded: client_answers.on_measure_recorded}),
        ),
        Route(
            ConsumerSpec(
                "notify-appointments",
                "BOOKING",
                [
                    "booking.*.AppointmentBooked",
                    "booking.*.AppointmentRescheduled",
                    "booking.*.AppointmentCancelled",
                    "booking.*.SessionMissed",
                    "booking.*.AppointmentSeriesBooked",
                    "booking.*.AppointmentSeriesCancelled",
                    "booking.*.GroupSessionSeriesSeatTaken",
                    "booking.*.GroupSessionSeriesSeatCancelled",
                ],
                description="Appointment confirmations to clients (one per series, and one per"
                " client's seat in a group series); missed-session fee notices.",
            ),
            *client_message_handlers(handlers.APPOINTMENT_MESSAGES),
        ),
        Route(
            ConsumerSpec(
                "notify-waitlist",
                "BOOKING",
                ["booking.*.WaitlistOfferMade"],
                description="Waitlist offers to clients, with their signed accept link.",
            ),
            *client_message_handlers(handlers.WAITLIST_MESSAGES),
        ),
        Route(
            ConsumerSpec(
                "notify-directory",
                "BOOKING",
                [
                    "booking.*.SiteRegistered",
                    "booking.*.StaffRegistered",
                    "booking.*.ClientRegistered",
                    "booking.*.ClientContactChanged",
                    "booking.*.StaffDeactivated",
                ],
                description="Sites, staff contacts and client profiles notify keeps.",
            ),
            dispatch(
                {
                    SiteRegistered: handlers.on_site_registered,
                    StaffRegistered: handlers.on_staff_registered,
                    ClientRegistered: handlers.on_client_registered,
                    ClientContactChanged: handlers.on_client_contact_changed,
                    StaffDeactivated: handlers.on_staff_deactivated,
                }
            ),
            # The upserts of a whole batch at once (replays and bulk registrations).
            batch_handler=handlers.on_directory_batch,
        ),
        *webhook_routes(),
    ]


def client_message_handlers(
    table: Mapping[type[IntegrationEvent], MessagesOf],
) -> tuple[Handler, BatchHandler]:
    """A consumer of events that ask for client messages: its per-message handler and its batch
    handler (a batch's clients looked up in one query, its notifications stored in one
    statement), both from one table."""
    per_message = dispatch({t: client_message_handler(of) for t, of in table.items()})
    return per_message, client_messages_batch(table)


def webhook_routes() -> list[Route]:
    """One durable per stream, each taking every event of its stream (in stream order)."""
    subjects = {spec.name: spec.subjects for spec in STREAMS}
    return [
        Route(
            ConsumerSpec(
                f"notify-webhooks-{stream.lower()}",
                stream,
                list(subjects[stream]),
                description=f"Queues {stream} events for the webhook subscriptions.",
                from_new=stream in WEBHOOK_STREAMS_FROM_NEW,
            ),
            webhooks.on_event,
            # Every event of the stream, so a burst's batches are large: one statement each.
            batch_handler=webhooks.on_events,
        )
        for stream in WEBHOOK_STREAMS
    ]
