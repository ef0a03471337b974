"""Booking's HTTP API (contract v1: booking)."""

from booking.entrypoints.http import (
    appointments,
    clients,
    closures,
    group_series,
    group_sessions,
    scheduling,
    series,
    sites,
    waitlist,
)

ROUTERS = [
    sites.router,
    clients.router,
    appointments.router,
    group_sessions.router,
    group_series.router,
    scheduling.router,
    closures.router,
    series.router,
    waitlist.router,
]
