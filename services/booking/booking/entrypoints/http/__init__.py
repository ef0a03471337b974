"""Booking's HTTP API (contract v1: booking)."""

from booking.entrypoints.http import (
    appointments,
    clients,
    closures,
    scheduling,
    series,
    sites,
    waitlist,
)

ROUTERS = [
    sites.router,
    clients.router,
    appointments.router,
    scheduling.router,
    closures.router,
    series.router,
    waitlist.router,
]
