"""The routing table of crisis: what it consumes, which handler runs, what that emits.

crisis-booking-risk     BOOKING   booking.*.RiskFlagged        -> on_risk_flagged
crisis-followup-risk    FOLLOWUP  followup.*.RiskFlagged       -> on_risk_flagged
    moderate or above opens an alert: AlertRaised, PageRequested for each level-1 staff member
    (none and a "no_policy" step when the site has no policy); joining an open alert adds the
    flag (and a raised level) to its timeline and emits nothing public.
crisis-page-deliveries  NOTIFY    notify.*.NotificationSent    -> on_page_delivery
                                  notify.*.NotificationFailed  -> on_page_delivery
    with page_id set: the page's sent_at and a page_sent/page_failed step; emits nothing.
crisis-staff            BOOKING   booking.*.StaffRegistered    -> on_staff_registered
    staff ids per site, to check escalation policies and who acknowledges, and who left
    (skipped when their level is paged, refused in new policies, flagged on policy reads);
    emits nothing.
crisis-clients          BOOKING   booking.*.ClientRegistered   -> on_client_registered
    the site of each client, to refuse a flag for a client of another site; emits nothing.
crisis-sites            BOOKING   booking.*.SiteRegistered     -> on_site_registered
    sites' time zones (the zone of a schedule that names none); emits nothing.
crisis-site-closures    BOOKING   booking.*.SiteClosuresChanged -> on_site_closures_changed
    sites' closed days, recorded as crisis's own SiteClosuresRecorded (stream
    site-closures-<site>), for restrictions with `days` open or closed; emits nothing.

Not consumed: crisis's own RiskFlagged (POST /risk-flags handles its flag in the same
transaction). Missed deadlines are rows, not messages: see `entrypoints/scheduler.py`.
"""

from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    ClientRegistered,
    IntegrationEvent,
    NotificationFailed,
    NotificationSent,
    RiskFlagged,
    SiteClosuresChanged,
    SiteRegistered,
    StaffDeactivated,
    StaffRegistered,
)
from counseling_shared.inbox import Handler, PermanentFailure, dispatch
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.service import Route
from counseling_shared.unit_of_work import UnitOfWork
from crisis.adapters.flags import RiskFlag
from crisis.application.alerts import receive_flag, record_delivery
from crisis.application.people import client_registered
from crisis.application.policies import staff_deactivated, staff_registered
from crisis.application.publishing import Paging
from crisis.application.schedules import site_registered
from crisis.application.site_closures import site_closures_changed

CLIENTS_DURABLE = "crisis-clients"
"""Learns each client's site; POST /risk-flags asks it whether a client may still arrive."""

# Crisis traffic retries fast: a flag that failed on a database hiccup must page within seconds.
_URGENT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def routes(paging: Paging, phone_key: str = "") -> list[Route]:
    """`phone_key`: the key of staff phones' digests (crisis keeps no number)."""

    async def on_risk_flagged(uow: UnitOfWork, _: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, RiskFlagged)
        flag = RiskFlag(
            event.flag_id,
            event.client_id,
            event.site_id,
            event.level,
            event.source,
            event.flagged_at,
        )
        await receive_flag(uow, flag, paging)

    async def on_page_delivery(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, NotificationSent)  # NotificationFailed is one too
        await record_delivery(uow, event, envelope.time)

    async def on_staff_registered(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, StaffRegistered)
        await staff_registered(uow, event, phone_key, envelope.time)

    async def on_staff_deactivated(uow: UnitOfWork, _: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, StaffDeactivated)
        await staff_deactivated(uow, event)

    async def on_client_registered(uow: UnitOfWork, _: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, ClientRegistered)
        await client_registered(uow, event)

    async def on_site_registered(uow: UnitOfWork, _: Envelope, event: IntegrationEvent) -> None:
        assert isinstance(event, SiteRegistered)
        await site_registered(uow, event)

    async def on_site_closures_changed(
        uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
    ) -> None:
        assert isinstance(event, SiteClosuresChanged)
        if event.site_id != envelope.siteid:
            raise PermanentFailure(
                f"SiteClosuresChanged names site {event.site_id} on site {envelope.siteid}'s"
                " subject"
            )
        await site_closures_changed(uow, event, envelope.time)

    flags: Handler = dispatch({RiskFlagged: on_risk_flagged})
    return [
        Route(
            ConsumerSpec(
                "crisis-booking-risk",
                "BOOKING",
                ["booking.*.RiskFlagged"],
                backoff=_URGENT_BACKOFF,
                # A flag is never dead-lettered for want of database capacity.
                retry_overload=True,
                description="Risk flags from session notes: open or join alerts",
            ),
            flags,
        ),
        Route(
            ConsumerSpec(
                "crisis-followup-risk",
                "FOLLOWUP",
                ["followup.*.RiskFlagged"],
                backoff=_URGENT_BACKOFF,
                # A flag is never dead-lettered for want of database capacity.
                retry_overload=True,
                description="Risk flags from follow-up outcomes: open or join alerts",
            ),
            flags,
        ),
        Route(
            ConsumerSpec(
                "crisis-page-deliveries",
                "NOTIFY",
                ["notify.*.NotificationSent", "notify.*.NotificationFailed"],
                description="Deliveries of pages (page_id set): sent_at and timeline",
            ),
            dispatch({NotificationSent: on_page_delivery, NotificationFailed: on_page_delivery}),
        ),
        Route(
            ConsumerSpec(
                "crisis-staff",
                "BOOKING",
                ["booking.*.StaffRegistered", "booking.*.StaffDeactivated"],
                description="Staff ids per site and who left, to check escalation policies",
            ),
            dispatch(
                {StaffRegistered: on_staff_registered, StaffDeactivated: on_staff_deactivated}
            ),
        ),
        Route(
            ConsumerSpec(
                CLIENTS_DURABLE,
                "BOOKING",
                ["booking.*.ClientRegistered"],
                description="The site of each client, to check risk flags",
            ),
            dispatch({ClientRegistered: on_client_registered}),
        ),
        Route(
            ConsumerSpec(
                "crisis-sites",
                "BOOKING",
                ["booking.*.SiteRegistered"],
                description="Sites' time zones, for schedules that name none",
            ),
            dispatch({SiteRegistered: on_site_registered}),
        ),
        Route(
            ConsumerSpec(
                "crisis-site-closures",
                "BOOKING",
                ["booking.*.SiteClosuresChanged"],
                description="Sites' closed days, for schedule restrictions on open or closed days",
            ),
            dispatch({SiteClosuresChanged: on_site_closures_changed}),
        ),
    ]
