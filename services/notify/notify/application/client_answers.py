"""What notify does when a client answers a check-in (followup's `CallbackRequested`): the
counselor of the client's latest session gets one bulk-lane email in their own locale, naming
the client by id only. Nobody is told when followup knows no counselor for the client."""

from __future__ import annotations

from counseling_shared.envelope import Envelope
from counseling_shared.events import CallbackRequested, IntegrationEvent
from counseling_shared.unit_of_work import UnitOfWork
from notify.application.staff_emails import email_staff
from notify.domain.codes import Template


async def on_callback_requested(
    uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent
) -> None:
    assert isinstance(event, CallbackRequested)
    if event.counselor_id is None:
        return
    params = {"client_id": str(event.client_id), "followup_id": str(event.followup_id)}
    await email_staff(
        uow, envelope, [event.counselor_id], event.site_id, Template.CALLBACK_REQUESTED, params
    )
