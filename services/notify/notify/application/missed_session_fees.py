"""The client-facing side of the missed-session fee (contract v2, `fee_due`).

booking decides whether a fee is due (a no-show, or a late cancellation by the client, at a site
with a `missed_session_fee`) and says so in `SessionMissed` / `AppointmentCancelled`. notify
only tells the client, in their language and zone, with the amount in their locale's format.
No payment is taken or asked for here.
"""

from counseling_shared.envelope import Envelope
from counseling_shared.events import AppointmentCancelled, IntegrationEvent, SessionMissed
from notify.application.client_messages import ClientMessage, client_message_handler
from notify.domain.codes import Template
from notify.domain.notification import Params


def session_missed_messages(envelope: Envelope, event: IntegrationEvent) -> list[ClientMessage]:
    assert isinstance(event, SessionMissed)
    # Without a fee, the no-show outreach (followup's FollowUpDue) is the only message.
    fee = fee_notice(envelope, event, "no_show")
    return [] if fee is None else [fee]


def fee_notice(
    envelope: Envelope, event: SessionMissed | AppointmentCancelled, reason: str
) -> ClientMessage | None:
    """The fee notice, when booking says a fee is due (after a late cancellation's
    confirmation, or alone for a no-show)."""
    fee = event.fee_due
    if fee is None:
        return None
    params: Params = {
        "appointment_id": str(event.appointment_id),
        "start": event.start.isoformat(),
        "reason": reason,
        "fee_amount": str(fee.amount),
        "fee_currency": fee.currency.upper(),
    }
    template = Template.MISSED_SESSION_FEE
    return ClientMessage(envelope, event.client_id, event.site_id, template, params)


on_session_missed = client_message_handler(session_missed_messages)
