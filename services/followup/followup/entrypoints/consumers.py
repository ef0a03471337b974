"""followup's routing table: what it consumes from booking, who handles it, what it emits.

followup-sites   booking.*.SiteRegistered     → site_registered      → (keeps the site's zone)
followup-care    booking.*.ClientRegistered   → client_registered    → (keeps zone, locale)
                 booking.*.ClientContactChanged → client_contact_changed → (updates them)
                 booking.*.SessionCompleted   → session_completed    → FollowUpCancelled*,
                                                                        FollowUpScheduled (and
                                                                        reminders after a closure)
                 booking.*.SessionMissed      → session_missed       → FollowUpScheduled
                 booking.*.CareEpisodeClosed  → care_episode_closed  → FollowUpCancelled*,
                                                                        FollowUpScheduled*
                 booking.*.AppointmentBooked  → appointment_booked   → FollowUpScheduled*
                                                                        (`reminder`)
                 booking.*.AppointmentRescheduled → appointment_rescheduled → FollowUpCancelled*,
                                                                        FollowUpScheduled*
                 booking.*.AppointmentCancelled → appointment_cancelled → FollowUpCancelled*
followup-staff   booking.*.StaffDeactivated   → staff_deactivated    → (their staff key is
                                                                        refused from then on)

followup-staff is a durable of its own rather than one more subject of followup-care: JetStream
does not go back over messages a durable has passed when its filter subjects are widened, so
deactivations published before an upgrade would never reach followup-care; a new durable
(DeliverPolicy.ALL) reads every one still in the stream.

One consumer carries every per-client event so a client's events are handled in stream order
(their registration before their first session). The scheduler (entrypoints/scheduler.py) emits
FollowUpDue (and FollowUpScheduled for the next check-in); the HTTP API emits
FollowUpCompleted, RiskFlagged and, for preference changes, FollowUpCancelled/FollowUpScheduled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CareEpisodeClosed,
    ClientContactChanged,
    ClientRegistered,
    IntegrationEvent,
    SessionCompleted,
    SessionMissed,
    SiteRegistered,
    StaffDeactivated,
)
from counseling_shared.inbox import Handler, PermanentFailure, dispatch
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.service import Route
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.postgres_store import PostgresFollowupStore
from followup.application import booking_events, reminders, staff_events
from followup.application.ports import FollowupStore
from followup.entrypoints.care_batch import care_batch

E = TypeVar("E", bound=IntegrationEvent)
CARE_FETCH = 256
StoreFactory = Callable[[UnitOfWork], FollowupStore]


def postgres_store(uow: UnitOfWork) -> FollowupStore:
    return PostgresFollowupStore(uow.conn)


def handle(
    event_type: type[E],
    handler: Callable[[UnitOfWork, FollowupStore, E], Awaitable[None]],
    store: StoreFactory = postgres_store,
) -> Handler:
    """Adapt an application handler to the inbox: check the event's type, give it a store."""

    async def run(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
        if not isinstance(event, event_type):
            raise PermanentFailure(f"expected {event_type.event_type}, got {envelope.type}")
        await handler(uow, store(uow), event)

    return run


async def staff_deactivated(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    if not isinstance(event, StaffDeactivated):
        raise PermanentFailure(f"expected {StaffDeactivated.event_type}, got {envelope.type}")
    await staff_events.staff_deactivated(uow, event)


def routes(store: StoreFactory = postgres_store) -> list[Route]:
    """`store` stands in for the Postgres store in tests; the batch handler of followup-care
    (Postgres only) is given only with the Postgres store."""
    care = dispatch(
        {
            ClientRegistered: handle(ClientRegistered, booking_events.client_registered, store),
            ClientContactChanged: handle(
                ClientContactChanged, booking_events.client_contact_changed, store
            ),
            SessionCompleted: handle(SessionCompleted, booking_events.session_completed, store),
            SessionMissed: handle(SessionMissed, booking_events.session_missed, store),
            CareEpisodeClosed: handle(CareEpisodeClosed, booking_events.care_episode_closed, store),
            AppointmentBooked: handle(AppointmentBooked, reminders.appointment_booked, store),
            AppointmentRescheduled: handle(
                AppointmentRescheduled, reminders.appointment_rescheduled, store
            ),
            AppointmentCancelled: handle(
                AppointmentCancelled, reminders.appointment_cancelled, store
            ),
        }
    )
    return [
        Route(
            ConsumerSpec(
                "followup-sites",
                "BOOKING",
                ["booking.*.SiteRegistered"],
                description="followup: site time zones",
            ),
            dispatch(
                {SiteRegistered: handle(SiteRegistered, booking_events.site_registered, store)}
            ),
        ),
        Route(
            ConsumerSpec(
                "followup-care",
                "BOOKING",
                [
                    "booking.*.ClientRegistered",
                    "booking.*.ClientContactChanged",
                    "booking.*.SessionCompleted",
                    "booking.*.SessionMissed",
                    "booking.*.CareEpisodeClosed",
                    "booking.*.AppointmentBooked",
                    "booking.*.AppointmentRescheduled",
                    "booking.*.AppointmentCancelled",
                ],
                description="followup: clients, sessions and episodes that plan follow-ups",
            ),
            care,
            # A fetched batch with a few statements; `care` replays a batch that fails.
            care_batch(care) if store is postgres_store else None,
            # 256 rather than the inbox's 64: the batch's statements, round trips, fetch and
            # commit are shared by four times the events (a catch-up after an outage).
            fetch=CARE_FETCH,
        ),
        Route(
            ConsumerSpec(
                "followup-staff",
                "BOOKING",
                ["booking.*.StaffDeactivated"],
                description="followup: deactivated staff, whose keys are refused",
            ),
            dispatch({StaffDeactivated: staff_deactivated}),
        ),
    ]


ROUTES = routes()
