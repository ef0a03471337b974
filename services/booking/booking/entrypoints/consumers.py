"""Booking's routing table: the subjects it consumes, the handler for each, what it emits.

Booking consumes nothing from other services in v1: it is where the suite's facts start.
Its commands come over HTTP (`entrypoints/http`) and emit SiteRegistered, StaffRegistered,
ClientRegistered, AppointmentBooked, AppointmentRescheduled, AppointmentCancelled,
SessionCompleted (+ RiskFlagged at moderate or above), SessionMissed and CareEpisodeClosed on
`booking.<site_id>.<EventType>`. The only NATS traffic it answers is the client directory's
core request-reply (`entrypoints/directory.py`).
"""

from counseling_shared.service import Route

ROUTES: list[Route] = []
