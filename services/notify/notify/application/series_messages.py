"""One message per recurring series, not one per occurrence.

booking publishes each occurrence's own `AppointmentBooked` / `AppointmentCancelled` (with the
`series_id`) and then, in the same transaction, one summary: `AppointmentSeriesBooked` or
`AppointmentSeriesCancelled`, listing the occurrences. notify sends nothing for an occurrence
that names a series (a fee notice aside) and one message for the summary: no counting of
occurrences, no waiting for the last one, and the inbox makes each summary count once.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    AppointmentSeriesBooked,
    AppointmentSeriesCancelled,
    IntegrationEvent,
)
from notify.application.client_messages import ClientMessage
from notify.domain.codes import Template
from notify.domain.notification import Params

SHOWN = 5
"""Dates listed in a series message; the rest are "and N more" (never "and 1 more")."""


class Dated(Protocol):
    """An occurrence a message lists: an appointment series' or a group series seat's."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


class Booked(Dated, Protocol):
    """An occurrence with its appointment: one alone reads as an ordinary appointment's."""

    @property
    def appointment_id(self) -> UUID: ...


def shown_dates(occurrences: Sequence[Dated]) -> tuple[list[dict[str, str]], int]:
    """The occurrences a message lists (start and end, ISO), and how many it leaves out."""
    ordered = sorted(occurrences, key=lambda o: o.start)
    listed = ordered if len(ordered) <= SHOWN + 1 else ordered[:SHOWN]
    dates = [{"start": o.start.isoformat(), "end": o.end.isoformat()} for o in listed]
    return dates, len(ordered) - len(listed)


def listed_params(occurrences: Sequence[Dated], modality: str) -> Params:
    """What a message listing several occurrences shows (an appointment series' or a group
    series seat's): how many, the first few dates, the first and last start."""
    dates, more = shown_dates(occurrences)
    ordered = sorted(o.start for o in occurrences)
    return {
        "modality": modality,
        "count": len(ordered),
        "occurrences": dates,
        "more": more,
        "first_start": ordered[0].isoformat(),
        "last_start": ordered[-1].isoformat(),
    }


def series_params(event: AppointmentSeriesBooked | AppointmentSeriesCancelled) -> Params:
    return {
        "series_id": str(event.series_id),
        **listed_params(event.occurrences, event.modality.value),
    }


def single_params(occurrence: Booked, modality: str, extra: Params) -> Params:
    """A series (or a group series seat) of one occurrence reads as an ordinary appointment's
    message."""
    return {
        "appointment_id": str(occurrence.appointment_id),
        "start": occurrence.start.isoformat(),
        "end": occurrence.end.isoformat(),
        "modality": modality,
        "previous_start": None,
        **extra,
    }


def series_booked_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    assert isinstance(event, AppointmentSeriesBooked)
    if not event.occurrences:
        return []
    if len(event.occurrences) == 1:
        params = single_params(event.occurrences[0], event.modality.value, {})
        template = Template.APPOINTMENT_BOOKED
    else:
        # The rule's dates left out because the site is closed then are named, so the client
        # does not wonder about the gap (dates only; params stored before have none).
        skipped = [{"start": s.start.isoformat()} for s in event.skipped_occurrences]
        params = {**series_params(event), "skipped": skipped}
        template = Template.APPOINTMENT_SERIES_BOOKED
    return [ClientMessage(envelope, event.client_id, event.site_id, template, params)]


def series_cancelled_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    """One notice for the occurrences cancelled now; none when none were still booked."""
    assert isinstance(event, AppointmentSeriesCancelled)
    if not event.occurrences:
        return []
    by = {"cancelled_by": event.cancelled_by.value}
    if len(event.occurrences) == 1:
        params = single_params(event.occurrences[0], event.modality.value, by)
        template = Template.APPOINTMENT_CANCELLED
    else:
        params, template = {**series_params(event), **by}, Template.APPOINTMENT_SERIES_CANCELLED
    return [ClientMessage(envelope, event.client_id, event.site_id, template, params)]
