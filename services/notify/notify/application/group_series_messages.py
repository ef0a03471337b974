"""One message per client's seat in a recurring group, not one per occurrence.

booking publishes each seat's own `AppointmentBooked` / `AppointmentCancelled` (with the
`group_series_id`) and then, in the same transaction, one summary per client:
`GroupSessionSeriesSeatTaken` or `GroupSessionSeriesSeatCancelled` (the client left the series,
or the series was cancelled), listing the seats. notify sends nothing for a seat that names a
group series (a fee notice aside) and one message for the summary, dates listed as for an
appointment series (`series_messages.listed_params`). A seat taken alone keeps its own
confirmation.
"""

from counseling_shared.envelope import Envelope
from counseling_shared.events import (
    GroupSessionSeriesSeatCancelled,
    GroupSessionSeriesSeatTaken,
    IntegrationEvent,
)
from notify.application.client_messages import ClientMessage
from notify.application.series_messages import listed_params, single_params
from notify.domain.codes import Template
from notify.domain.notification import Params


def group_series_params(
    event: GroupSessionSeriesSeatTaken | GroupSessionSeriesSeatCancelled,
) -> Params:
    return {
        "group_series_id": str(event.group_series_id),
        **listed_params(event.occurrences, event.modality.value),
    }


def seat_taken_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    """One confirmation of every seat the client took in the series now."""
    assert isinstance(event, GroupSessionSeriesSeatTaken)
    if not event.occurrences:
        return []
    if len(event.occurrences) == 1:
        params = single_params(event.occurrences[0], event.modality.value, {})
        template = Template.APPOINTMENT_BOOKED
    else:
        params, template = group_series_params(event), Template.GROUP_SERIES_SEAT_TAKEN
    return [ClientMessage(envelope, event.client_id, event.site_id, template, params)]


def seat_cancelled_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    """One notice of the client's seats cancelled now; none when none were still booked."""
    assert isinstance(event, GroupSessionSeriesSeatCancelled)
    if not event.occurrences:
        return []
    why: Params = {"cancelled_by": event.cancelled_by.value, "cause": event.cause.value}
    if len(event.occurrences) == 1:
        params = single_params(event.occurrences[0], event.modality.value, why)
        template = Template.APPOINTMENT_CANCELLED
    else:
        params = {**group_series_params(event), **why}
        template = Template.GROUP_SERIES_SEAT_CANCELLED
    return [ClientMessage(envelope, event.client_id, event.site_id, template, params)]
