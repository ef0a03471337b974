"""Wires the crisis service: settings, routes, the routing table and its background loops."""

from pathlib import Path

from counseling_shared import twilio_replays
from counseling_shared.connections import process_connections
from counseling_shared.pruner import PruneTarget
from counseling_shared.service import ServiceDefinition
from crisis.adapters import staff
from crisis.application.publishing import PAGE_LINK_PURPOSE
from crisis.entrypoints import (
    consumers,
    http,
    inbound_sms,
    oncall_page,
    pins_http,
    schedules_http,
    swaps_http,
    twilio_inbound,
    twilio_voice,
)
from crisis.entrypoints.auditor import escalation_auditor
from crisis.entrypoints.gauges import refresh_gauges
from crisis.entrypoints.oncall_check import oncall_look_ahead
from crisis.entrypoints.page_errors import html_error_page
from crisis.entrypoints.paging import paging_for
from crisis.entrypoints.scheduler import escalation_scheduler
from crisis.entrypoints.staff_reply_responder import serve_staff_replies
from crisis.settings import CrisisSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def definition(settings: CrisisSettings | None = None) -> ServiceDefinition:
    s = settings or CrisisSettings()
    paging = paging_for(s)
    return ServiceDefinition(
        name="crisis",
        settings=s,
        migrations_dir=MIGRATIONS,
        staff_deactivated=staff.is_deactivated,
        # Rate-limited per link (page ack, resolve, PIN) and the SMS webhook on its own, so a
        # flood elsewhere cannot starve an acknowledgement.
        link_purposes=(PAGE_LINK_PURPOSE, schedules_http.CALENDAR_PURPOSE),
        rate_budgets=(inbound_sms.provider_budget(s),),
        rate_form_budgets=(twilio_inbound.provider_budget(s), twilio_voice.provider_budget(s)),
        html_error_page=html_error_page,
        routes=consumers.routes(paging, s.link_signing_key.get_secret_value()),
        # Staff texts to the center's one number, which notify takes in (crisis.staff_replies).
        on_start=[serve_staff_replies],
        routers=[
            http.router,
            schedules_http.router,
            swaps_http.router,
            oncall_page.router,
            pins_http.router,
            inbound_sms.router,
            twilio_inbound.router,
            twilio_voice.router,
        ],
        background=[
            escalation_scheduler(paging),
            escalation_auditor(paging),
            refresh_gauges,
            oncall_look_ahead,
        ],
        prune_targets=[
            # Twilio ids of posts acted on: a replay older than this acts again.
            PruneTarget("twilio_posts", "received_at < $1", twilio_replays.KEEP),
            PruneTarget(
                "escalation_timers",
                "status IN ('fired', 'cancelled') AND settled_at < $1",
                s.prune_settled_timers_after,
            ),
        ],
    )


def connection_budget(s: CrisisSettings) -> int:
    """PostgreSQL connections one crisis process holds at most (counseling_shared.connections):
    its pool (the escalation auditor, gauges and on-call look-ahead use it too), the relay's
    LISTEN and the escalation scheduler's."""
    return process_connections(s.db_pool_max, listeners=1)
