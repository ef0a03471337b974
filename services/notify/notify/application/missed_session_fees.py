"""The client-facing side of the missed-session fee (contract v2, `fee_due`).

booking decides whether a fee is due (a no-show, or a late cancellation by the client, at a site
with a `missed_session_fee`) and says so in `SessionMissed` / `AppointmentCancelled`. notify
only tells the client, in their language and zone, with the amount in their locale's format.
No payment is taken or asked for here.
"""

from __future__ import annotations

from counseling_shared.envelope import Envelope
from counseling_shared.events import AppointmentCancelled, IntegrationEvent, SessionMissed
from counseling_shared.unit_of_work import UnitOfWork
from notify.application.handlers import request_for_client
from notify.domain.codes import Template


async def on_session_missed(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, SessionMissed)
    # Without a fee, the no-show outreach (followup's FollowUpDue) is the only message.
    await _fee_notice(uow, envelope, event, "no_show")


async def on_late_cancellation_fee(
    uow: UnitOfWork, envelope: Envelope, event: AppointmentCancelled
) -> None:
    """Called after the cancellation's confirmation: a second message when a fee is due."""
    await _fee_notice(uow, envelope, event, "late_cancellation")


async def _fee_notice(
    uow: UnitOfWork,
    envelope: Envelope,
    event: SessionMissed | AppointmentCancelled,
    reason: str,
) -> None:
    fee = event.fee_due
    if fee is None:
        return
    await request_for_client(
        uow,
        envelope,
        client_id=event.client_id,
        site_id=event.site_id,
        template=Template.MISSED_SESSION_FEE,
        params={
            "appointment_id": str(event.appointment_id),
            "start": event.start.isoformat(),
            "reason": reason,
            "fee_amount": str(fee.amount),
            "fee_currency": fee.currency.upper(),
        },
    )
