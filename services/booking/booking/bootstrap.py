"""Wires booking: settings, migrations, HTTP routers, routing table, directory responder, the
hold timer and the deferred waitlist offers' timer."""

from pathlib import Path

from booking.adapters import staff_status
from booking.application.waitlist import ACCEPT_PURPOSE
from booking.entrypoints import calendar
from booking.entrypoints.consumers import ROUTES
from booking.entrypoints.directory import serve_directory
from booking.entrypoints.directory_batch import serve_directory_batch
from booking.entrypoints.fhir import routes as fhir
from booking.entrypoints.http import ROUTERS
from booking.entrypoints.sms_reply_responder import serve_reminder_replies
from booking.entrypoints.timers import timers
from booking.entrypoints.web import manage_move_page, manage_page, offer_page, page_errors
from booking.settings import BookingSettings
from counseling_shared.connections import process_connections
from counseling_shared.service import ServiceDefinition

MIGRATIONS = Path(__file__).parent / "migrations"


def definition(settings: BookingSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="booking",
        settings=settings or BookingSettings(),
        migrations_dir=MIGRATIONS,
        # Free text about a client (a referral: who to, how to reach them): served to staff of
        # the client's site and admins only.
        client_free_text=frozenset({"goals", "next_steps", "cancel_reason", "referral"}),
        routes=ROUTES,
        routers=[
            *ROUTERS,
            fhir.router,
            calendar.router,
            offer_page.router,
            manage_page.router,
            manage_move_page.router,
        ],
        on_start=[serve_directory, serve_directory_batch, serve_reminder_replies],
        background=[timers],
        staff_deactivated=staff_status.is_deactivated,
        # Rate-limited per link, not per address: a calendar feed, a waitlist offer.
        link_purposes=(calendar.CALENDAR_PURPOSE, ACCEPT_PURPOSE),
        html_error_page=page_errors.html_error_page,
    )


def connection_budget(s: BookingSettings) -> int:
    """PostgreSQL connections one booking process holds at most (counseling_shared.connections):
    its pool, the relay's LISTEN and the timers' (holds and deferred waitlist offers share it)."""
    return process_connections(s.db_pool_max, listeners=1)
