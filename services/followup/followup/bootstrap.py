"""Wires followup: settings, migrations, HTTP routes, the routing table, the scheduler and the
gauges."""

from pathlib import Path

from counseling_shared.connections import process_connections
from counseling_shared.service import ServiceDefinition
from followup.adapters import staff_store
from followup.adapters.response_links import PURPOSE as RESPONSE_PURPOSE
from followup.entrypoints import contact_gaps
from followup.entrypoints.consumers import ROUTES
from followup.entrypoints.fhir.routes import router as fhir_router
from followup.entrypoints.gauges import refresh_gauges
from followup.entrypoints.http import router
from followup.entrypoints.measures_http import router as measures_router
from followup.entrypoints.satisfaction_http import router as satisfaction_router
from followup.entrypoints.scheduler import contact_gap_scheduler, followup_scheduler
from followup.entrypoints.web.page_errors import html_error_page
from followup.entrypoints.web.progress_page import router as progress_router
from followup.entrypoints.web.response_form import router as response_form_router
from followup.settings import FollowupSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def definition(settings: FollowupSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="followup",
        settings=settings or FollowupSettings(),
        migrations_dir=MIGRATIONS,
        # Free text about a client: served to staff of the client's site and admins only.
        client_free_text=frozenset({"progress"}),
        staff_deactivated=staff_store.is_deactivated,
        link_purposes=(RESPONSE_PURPOSE,),  # the answer form: rate-limited per link
        routes=ROUTES,
        routers=[
            router,
            contact_gaps.router,
            measures_router,
            fhir_router,
            satisfaction_router,
            progress_router,
            response_form_router,
        ],
        background=[followup_scheduler, contact_gap_scheduler, refresh_gauges],
        html_error_page=html_error_page,
    )


def connection_budget(s: FollowupSettings) -> int:
    """PostgreSQL connections one followup process holds at most
    (counseling_shared.connections): its pool (the gauges use it too), the relay's LISTEN and
    one for each of its two schedulers (follow-ups, contact gaps)."""
    return process_connections(s.db_pool_max, listeners=2)
